"""Raw upload rate through the local multi-process stack: the zrc client -> TLS gateway -> SeaweedFS S3.

What ``make bench`` prints as ``--raw: ... upload N MB`` alone, repeated on one stack so that a median means
something on a noisy machine. Each round uploads a different archive (one member more) so nothing is cached.

    .venv/bin/python bench/upload_rate.py [--mb 400] [--repeat 3]

Each round also prints the CPU seconds that every 100 MB costs the S3 server, the gateway and the client
(user + system, from /proc and getrusage), and the rate two fully busy cores would allow at that cost: the
bound any upload through this stack meets on this machine, whatever the protocol does.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

from zrc.stack import Stack


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


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
                    procs = {n: stack.procs[n].pid for n in ("s3", "gateway")}
                    before = {n: cpu_seconds(pid) for n, pid in procs.items()} | {"client": own_cpu()}
                    t = time.perf_counter()
                    up = c.upload_archive(path)
                    seconds = time.perf_counter() - t
                    after = {n: cpu_seconds(pid) for n, pid in procs.items()} | {"client": own_cpu()}
                    mb = up.size / 2**20
                    rates.append(mb / seconds)
                    path.unlink()
                    per100 = {n: (after[n] - before[n]) * 100 / mb for n in before}
                    total = sum(per100.values())
                    cores = os.cpu_count() or 1
                    print(f"round {i}: {mb:.0f} MB in {seconds:.2f} s = {rates[-1]:.0f} MB/s; CPU s per 100 MB: "
                          + ", ".join(f"{n} {v:.2f}" for n, v in per100.items())
                          + f"; {total:.2f} in all: {cores} busy cores allow {cores * 100 / total:.0f} MB/s", flush=True)
            hwm = next(int(line.split()[1]) for line in Path(f"/proc/{stack.procs['gateway'].pid}/status").open()
                       if line.startswith("VmHWM:"))
            print(f"median {statistics.median(rates):.0f} MB/s over {a.repeat} uploads of {a.mb} MB; "
                  f"gateway peak RSS {hwm / 1024:.0f} MB")
        finally:
            stack.down()


if __name__ == "__main__":
    main()
