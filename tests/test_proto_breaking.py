"""`make proto-breaking` guards the wire: buf (FILE rules) accepts protos/ against the committed baseline image
and refuses a breaking change. Skipped where buf is not installed (`make proto-lint` installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUF = ROOT / ".tools" / "node_modules" / ".bin" / "buf"
BASELINE = ROOT / "protos" / "baseline" / "zrc-v1.binpb"

pytestmark = pytest.mark.skipif(not BUF.exists(), reason="buf not installed (make proto-lint installs it)")


def _breaking(protos: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BUF), "breaking", "--against", str(BASELINE)], cwd=protos, capture_output=True,
                          text=True, timeout=120)


def test_the_protos_match_the_baseline():
    r = _breaking(ROOT / "protos")
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_renumbered_field_is_refused(tmp_path):
    protos = tmp_path / "protos"
    shutil.copytree(ROOT / "protos", protos, ignore=shutil.ignore_patterns("baseline"))
    scoring = protos / "zrc" / "scoring" / "v1" / "scoring.proto"
    text = scoring.read_text()
    assert "string scorer_version = 3;" in text
    scoring.write_text(text.replace("string scorer_version = 3;", "string scorer_version = 30;"))
    r = _breaking(protos)
    assert r.returncode != 0 and "scorer_version" in r.stdout + r.stderr, r.stdout + r.stderr
