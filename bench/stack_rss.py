"""Peak RSS (VmHWM) of every process of the local stack while importing the full-size dataset and evaluating
a submission pooled and raw: what ``make bench`` reports at its end, without the rest of the benchmark.

    .venv/bin/python bench/stack_rss.py [--scale 1.0] [--seed 0]     # prints one JSON line

Stages: idle (after start), after_import, after_pooled, after_raw (peaks are cumulative). Uses the 32-dim
case that ``bench.py`` generates (generated here the first time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench  # noqa: E402 - the case generator and its cache


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    from zrc.client import build_archive
    from zrc.stack import Stack

    bench.ensure_case(a.scale, a.seed)
    slm, _ = bench.case_dirs(a.scale, a.seed)
    root = Path(os.environ.get("ZRC_BENCH_DIR", "/tmp/zrc-bench")) / f"rss-{os.getpid()}"
    stack, out = Stack(root), {}

    def peaks() -> dict:
        return {n: round(bench.vm_hwm_mb(p.pid)) for n, p in stack.procs.items()}
    try:
        stack.up()
        out["idle"] = peaks()
        with stack.client(token=stack.admin_token) as c:
            t = time.perf_counter()
            c.import_dataset(slm / "sLM21-dataset", "sLM21-dataset")
            out["import_s"], out["after_import"] = round(time.perf_counter() - t, 2), peaks()
            pooled, findings = c.upload_pooled(slm / "submission", "sLM21")
            assert findings.ok, findings.items[:3]
            bench.timed_job(c, pooled.digest)
            out["after_pooled"] = peaks()
            build_archive(slm / "submission", root / "raw.zip")
            bench.timed_job(c, c.upload_archive(root / "raw.zip").digest)
            out["after_raw"] = peaks()
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
