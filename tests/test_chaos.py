"""The reduced chaos run CI does: one archive of every abuse class and every special file, through the
embedded stack, in a fresh process (its peak RSS is every service's at once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration   # the chaos suite runs the embedded stack in a subprocess

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_reduced_chaos_run_is_clean(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos.py"), "--mode", "embedded", "--variants", "1",
                        "--keep", str(tmp_path)], capture_output=True, text=True, timeout=580)
    table = r.stdout
    assert "chaos: PASS" in table and r.returncode == 0, table + r.stderr[-3000:]
    rows = [line for line in table.splitlines() if line[:1].isalpha() and not line.startswith(("fault", "peak",
                                                                                                  "chaos", "TOTAL"))]
    assert len(rows) >= 29   # 26 archive classes + 3 special files
