"""`make loadtest` in the suite: 30 concurrent evaluations of distinct submissions from 5 users on 3 gateways and
2 replicas of every scorer and of validation, one gateway SIGKILLed while they run: every job succeeds with the
core's score files, and the scorers' zrc_scoring_parts_total adds up to exactly the parts requested."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_thirty_jobs_five_users_three_gateways_one_killed():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "loadtest.py"), "--users", "5", "--jobs", "30",
                        "--gateways", "3", "--replicas", "2", "--kill-gateway", "--json"],
                       capture_output=True, text=True, timeout=880)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["ok"] and out["errors"] == [] and out["succeeded"] == 30
    assert out["parts_scored"] == out["parts_requested"] == 60
    assert out["p50_s"] <= out["p95_s"] and out["throughput_jobs_per_min"] > 0
