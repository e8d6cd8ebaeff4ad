"""Raw upload rate through the local multi-process stack: the zrc client -> TLS gateway -> SeaweedFS S3.

What ``make bench`` prints as ``--raw: ... upload N MB`` alone, repeated on one stack so that a median means
something on a noisy machine. Each round uploads a different archive (one member more) so nothing is cached.

    .venv/bin/python bench/upload_rate.py [--mb 400] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from zrc.stack import Stack


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("ZRC_BENCH_DIR")) as d:
        root = Path(d)
        base = root / "base.zip"
        with zipfile.ZipFile(base, "w", zipfile.ZIP_STORED) as z:
            for i in range(a.mb // 8):
                z.writestr(f"semantic/dev/librispeech/{i}.npy", os.urandom(8 << 20))
        stack = Stack(root / "stack")
        try:
            stack.up()
            rates = []
            with stack.client(token=stack.admin_token) as c:
                for i in range(a.repeat):
                    path = root / f"round{i}.zip"
                    shutil.copy(base, path)
                    with zipfile.ZipFile(path, "a") as z:
                        z.writestr("notes.md", f"round {i}\n")
                    t = time.perf_counter()
                    up = c.upload_archive(path)
                    seconds = time.perf_counter() - t
                    rates.append(up.size / 2**20 / seconds)
                    path.unlink()
                    print(f"round {i}: {up.size / 2**20:.0f} MB in {seconds:.2f} s = {rates[-1]:.0f} MB/s", flush=True)
            hwm = next(int(line.split()[1]) for line in Path(f"/proc/{stack.procs['gateway'].pid}/status").open()
                       if line.startswith("VmHWM:"))
            print(f"median {statistics.median(rates):.0f} MB/s over {a.repeat} uploads of {a.mb} MB; "
                  f"gateway peak RSS {hwm / 1024:.0f} MB")
        finally:
            stack.down()


if __name__ == "__main__":
    main()
