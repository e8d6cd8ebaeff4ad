"""How fast can the S3 server of the local stack (SeaweedFS) ingest one large object on this machine?

Times, with the ``minio`` client and no gRPC in between, a put_object of SIZE MB as one multipart upload at
several part sizes, and the same bytes as N objects stored by N threads then composed server-side (what the
gateway did before). That is the ceiling any upload through the stack can reach.

    .venv/bin/python bench/s3_ceiling.py [--mb 400] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from minio.commonconfig import ComposeSource

from zrc.stack import Stack
from zrc.storage.s3 import S3Storage


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="run only the cases whose name contains this")
    ap.add_argument("--weed-arg", action="append", default=[], help="an extra flag for `weed server`")
    a = ap.parse_args()
    data = bytes(range(256)) * (a.mb << 12)
    with tempfile.TemporaryDirectory() as d:
        st = Stack(Path(d))
        spawn = st._spawn
        st._spawn = lambda name, cmd, env: spawn(name, cmd + a.weed_arg, env)  # type: ignore[method-assign]
        try:
            st.start_s3()
            s3 = S3Storage(st.s3["endpoint"], st.s3["access_key"], st.s3["secret_key"])
            s3.ensure_buckets()
            c, b = s3.client, s3.buckets["submissions"]

            def multipart(part_mb: int) -> None:
                c.put_object(b, "obj", io.BytesIO(data), len(data), part_size=part_mb << 20)

            def parallel_parts(part_mb: int, threads: int = 4) -> None:
                # one multipart upload, parts sent by a pool (what minio's num_parallel_uploads does)
                c.put_object(b, "obj", io.BytesIO(data), len(data), part_size=part_mb << 20,
                             num_parallel_uploads=threads)

            def segments_compose(seg_mb: int, threads: int = 4) -> None:
                seg = seg_mb << 20
                keys = [f"seg/{i:06d}" for i in range(0, len(data), seg)]
                with ThreadPoolExecutor(threads) as ex:
                    list(ex.map(lambda k: s3.put_bytes("submissions", k, data[int(k[4:]):int(k[4:]) + seg]), keys))
                c.compose_object(b, "obj", [ComposeSource(b, k) for k in keys])
                for k in keys:
                    c.remove_object(b, k)

            cases = {
                "multipart 16MB parts, 1 stream": lambda: multipart(16),
                "multipart 64MB parts, 1 stream": lambda: multipart(64),
                "multipart 16MB parts, 4 parallel": lambda: parallel_parts(16),
                "multipart 64MB parts, 4 parallel": lambda: parallel_parts(64),
                "multipart 16MB parts, 2 parallel": lambda: parallel_parts(16, 2),
                "8MB segments x4 threads + compose": lambda: segments_compose(8),
                "64MB segments x4 threads + compose": lambda: segments_compose(64),
            }
            for name, fn in cases.items():
                if a.only not in name:
                    continue
                walls = []
                for _ in range(a.repeat):
                    t = time.perf_counter()
                    fn()
                    walls.append(time.perf_counter() - t)
                    c.remove_object(b, "obj")
                med = statistics.median(walls)
                print(f"{name:40s} median {a.mb / med:6.0f} MB/s  ({', '.join(f'{a.mb / w:.0f}' for w in walls)})",
                      flush=True)
        finally:
            st.down()


if __name__ == "__main__":
    main()
