"""Backup and restore of a zrc server's object storage: every object of the three buckets, copied as is.

``python -m zrc.backup dump DIR`` copies the store the environment names (``ZRC_STORAGE``, ``ZRC_S3_*``,
``ZRC_BUCKET_PREFIX``: the same variables as the services) into the folder DIR; ``python -m zrc.backup
restore DIR`` copies DIR into it. Users and hashed tokens, audit log, datasets, archives, job records, cached
results and leaderboards are all objects, so a restored store serves the same leaderboards, users and jobs.
Objects are streamed (an archive is never held in memory) and copied only when missing or of another size,
so a dump into an existing folder is incremental. On MinIO, ``mc mirror`` does the same job.

Run it with the gateways stopped (or scaled to zero) for a copy that no job changes while it is taken;
records written during a dump are caught by the next one.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from zrc.storage import DATASETS, RESULTS, SUBMISSIONS, NotFound, Storage

BUCKETS = (DATASETS, SUBMISSIONS, RESULTS)


@dataclass
class CopyReport:
    copied: int = 0
    skipped: int = 0
    bytes: int = 0


def copy_store(src: Storage, dst: Storage, *, progress=None) -> CopyReport:
    """Copy every object of ``src`` into ``dst`` (same bucket, same key); objects already there with the
    same size are skipped."""
    dst.ensure_buckets()
    rep = CopyReport()
    for bucket in BUCKETS:
        for key in src.list(bucket, ""):
            size = src.size(bucket, key)
            try:
                if dst.size(bucket, key) == size:
                    rep.skipped += 1
                    continue
            except NotFound:
                pass
            dst.put_file(bucket, key, src.open(bucket, key), size)
            rep.copied += 1
            rep.bytes += size
            if progress:
                progress(bucket, key, size)
    return rep


def main(argv: list[str] | None = None) -> int:
    from zrc.common.runtime import ConfigError
    from zrc.storage import from_env
    from zrc.storage.local import LocalStorage

    ap = argparse.ArgumentParser(prog="python -m zrc.backup", description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["dump", "restore"])
    ap.add_argument("folder", help="the backup folder (dump: created if missing)")
    a = ap.parse_args(argv)
    folder = Path(a.folder)
    if a.action == "restore" and not all((folder / b).is_dir() for b in BUCKETS):
        print(f"error: {folder} is not a zrc backup (expected the folders {', '.join(BUCKETS)})", file=sys.stderr)
        return 2
    try:
        live = from_env(dict(os.environ))
    except (KeyError, ConfigError) as exc:
        print(f"error: the store to {a.action} is named by ZRC_STORAGE / ZRC_S3_* (missing: {exc})",
              file=sys.stderr)
        return 2
    backup = LocalStorage(folder)
    src, dst = (live, backup) if a.action == "dump" else (backup, live)
    rep = copy_store(src, dst)
    print(f"{a.action}: {rep.copied} object(s) copied ({rep.bytes / 1e6:.1f} MB), {rep.skipped} already there")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
