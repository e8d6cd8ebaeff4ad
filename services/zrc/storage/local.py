"""A directory as object storage (embedded mode): ``ROOT/<bucket>/<key>``, atomic writes."""

from __future__ import annotations

import builtins
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from . import DATASETS, RESULTS, SUBMISSIONS, NotFound, PartWriter, PreconditionFailed, Readable, Storage


def _touch(path: Path) -> None:
    """Mark a file as used now: the store is pruned least recently used first (zrc.storage.prune)."""
    try:
        os.utime(path)
    except OSError:
        pass


class _Parts(PartWriter):
    """Appends to a hidden temp file next to the key (never listed); commit renames it into place."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        fd, self.tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        self.fh = os.fdopen(fd, "wb")

    def put(self, data: bytes) -> None:
        self.fh.write(data)

    def settle(self) -> None:
        self.fh.flush()

    def commit(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.fh.close()
        Path(self.tmp).unlink(missing_ok=True)


class LocalStorage(Storage):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.buckets = {b: b for b in (DATASETS, SUBMISSIONS, RESULTS)}

    def _path(self, bucket: str, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid key {key!r}")
        return self.root / self.buckets[bucket] / key

    def ensure_buckets(self) -> None:
        for b in self.buckets.values():
            (self.root / b).mkdir(parents=True, exist_ok=True)

    def _atomic(self, path: Path, write) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self._atomic(self._path(bucket, key), lambda fh: fh.write(data))

    def put_if_absent(self, bucket: str, key: str, data: bytes) -> bool:
        """A complete temp file hard-linked to the key: link(2) fails if the name exists, atomically."""
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)

    def get_with_etag(self, bucket: str, key: str) -> tuple[bytes, str]:
        data = self.get_bytes(bucket, key)
        return data, hashlib.md5(data, usedforsecurity=False).hexdigest()

    def put_if_match(self, bucket: str, key: str, data: bytes, etag: str) -> None:
        """Compare and replace under an exclusive flock of a per-key lock file (hidden from list())."""
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / f".tmp-lock-{path.name}", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = self.get_with_etag(bucket, key)[1]
            except NotFound:
                raise PreconditionFailed(f"{bucket}/{key} no longer exists") from None
            if current != etag:
                raise PreconditionFailed(f"{bucket}/{key} changed since it was read")
            self.put_bytes(bucket, key, data)

    def put_file(self, bucket: str, key: str, fileobj: Readable, size: int) -> None:
        self._atomic(self._path(bucket, key), lambda fh: shutil.copyfileobj(fileobj, fh, 1 << 20))

    def get_bytes(self, bucket: str, key: str) -> bytes:
        path = self._path(bucket, key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{bucket}/{key}") from None
        _touch(path)
        return data

    def open(self, bucket: str, key: str, buffer: int = 8 << 20):
        _touch(self._path(bucket, key))
        return super().open(bucket, key, buffer)

    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        try:
            with open(self._path(bucket, key), "rb") as fh:
                fh.seek(offset)
                return fh.read(length)
        except FileNotFoundError:
            raise NotFound(f"{bucket}/{key}") from None

    def size(self, bucket: str, key: str) -> int:
        p = self._path(bucket, key)
        if not p.is_file():
            raise NotFound(f"{bucket}/{key}")
        return p.stat().st_size

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        base = self.root / self.buckets[bucket]
        out: list[str] = []
        for dirpath, _, files in os.walk(base):
            rel = os.path.relpath(dirpath, base)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            out.extend(rel + f for f in files if not f.startswith(".tmp-") and (rel + f).startswith(prefix))
        return sorted(out)

    def delete(self, bucket: str, key: str) -> None:
        self._path(bucket, key).unlink(missing_ok=True)

    def list_ages(self, bucket: str, prefix: str = "") -> builtins.list[tuple[str, float]]:
        now = time.time()
        out = []
        for key in self.list(bucket, prefix):
            try:
                out.append((key, now - self._path(bucket, key).stat().st_mtime))
            except FileNotFoundError:
                continue
        return out

    def copy(self, bucket: str, src: str, dst: str) -> None:
        try:
            fh = open(self._path(bucket, src), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise NotFound(f"{bucket}/{src}") from None   # as S3 says it: callers handle one error
        with fh:
            self._atomic(self._path(bucket, dst), lambda out: shutil.copyfileobj(fh, out, 1 << 20))

    def parts(self, bucket: str, key: str) -> PartWriter:
        return _Parts(self._path(bucket, key))

    def abort_stale_parts(self, bucket: str, prefix: str, older_than: float) -> int:
        now, n = time.time(), 0
        for tmp in (self.root / self.buckets[bucket] / prefix).rglob(".tmp-*"):
            try:
                if now - tmp.stat().st_mtime > older_than:
                    tmp.unlink()
                    n += 1
            except FileNotFoundError:   # committed or aborted meanwhile
                continue
        return n

    def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
