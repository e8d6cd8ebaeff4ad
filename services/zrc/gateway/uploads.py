"""Resumable, chunked uploads of submission archives into object storage.

A stream is stored in one pass, straight under its final key ``archives/<sha256>.zip`` as one multipart
upload (:meth:`Storage.parts`): SEGMENT-sized parts go to the store in the background while the next ones
arrive, and the object becomes visible only when committed, after every byte was hashed (sha256) and the
zip's end record checked, so a partial or corrupt upload is never visible as a submission. Nothing is copied
afterwards: storing segment objects and concatenating them server-side copied every byte a second time inside
the store, which halved the upload speed on the local stack (bench/s3_ceiling.py). Memory use is a few parts
(those being stored), whatever the archive size.

An interrupted stream is parked in this process with its hash state (which cannot leave the process):
``committed`` is every byte that arrived (stored parts, and a tail smaller than the store's smallest part,
5 MiB on S3, kept in memory), and the client resumes from there into the same multipart upload. A resume that reaches another gateway replica, or a
restarted one, is told to start from 0 (correct, only slower). A parked upload is dropped after PARK_SECONDS
untouched, or when PARKED_MAX newer ones wait (so parked tails hold at most PARKED_MAX x 5 MiB).

Parked uploads are per user: ownership of an archive is proof of possession (see ``auth.py``), so a user may
never finish, or resume from, bytes another user sent. An archive that is already stored is re-sent in full
by a new owner and hashed (:meth:`Uploads.verify`) but not stored again.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

import structlog

from zrc.common import metrics
from zrc.core.errors import FailedPrecondition, InvalidArgument
from zrc.storage import SUBMISSIONS, PartWriter, Storage, keys

log = structlog.get_logger("zrc.gateway.uploads")
SEGMENT = 16 << 20   # one part (bench/s3_ceiling.py: 16 MiB parts, 2 in flight, were the fastest)
MAX_UPLOAD = 64 << 30
PARK_SECONDS = 24 * 3600
PARKED_MAX = 16
_TAIL = (1 << 16) + 22   # a zip ends with its end-of-central-directory record, within this many bytes


def _check_meta(meta) -> str:
    digest = (meta.sha256 or "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise InvalidArgument("metadata.sha256 must be the archive's sha256 (64 hex digits)")
    if meta.size <= 0 or meta.size > MAX_UPLOAD:
        raise InvalidArgument(f"announced size {meta.size} is out of range")
    return digest


@dataclass
class Upload:
    """An archive being stored: its writer, the hash and size of what the stored parts hold, their last bytes
    (``tail``), and bytes received but not stored yet (``rest``: a parked upload's tail under the smallest part)."""

    writer: PartWriter
    sha: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    tail: bytes = b""
    rest: bytes = b""
    touched: float = field(default_factory=time.monotonic)

    @property
    def held(self) -> int:
        """Every byte that arrived: where a resume continues."""
        return self.size + len(self.rest)

    def part(self, data: bytes) -> None:
        self.writer.put(data)
        self.sha.update(data)
        self.size += len(data)
        self.tail = (self.tail + data[-_TAIL:])[-_TAIL:]


class Uploads:
    def __init__(self, storage: Storage):
        self.storage = storage
        self._parked: dict[tuple[str, str], Upload] = {}
        self._lock = threading.Lock()

    def stored(self, digest: str) -> bool:
        return self.storage.exists(SUBMISSIONS, keys.archive(digest))

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            dropped = [self._parked.pop(k) for k, u in list(self._parked.items()) if now - u.touched > PARK_SECONDS]
        for u in dropped:
            u.writer.abort()

    def _take(self, digest: str, user: str) -> Upload | None:
        """The parked upload of ``user`` (removed from the park: one stream at a time continues it)."""
        keys.upload_prefix(user, digest)   # a checked user name and digest, as everywhere
        self._expire()
        with self._lock:
            return self._parked.pop((user, digest), None)

    def _park(self, digest: str, user: str, up: Upload, rest: bytes) -> None:
        """Keep what arrived so that the client can resume: ``rest`` is stored as a part if the store takes a
        part that small, else kept here. A storage failure keeps nothing (the next attempt starts over)."""
        try:
            if rest and len(rest) >= up.writer.min_part:
                up.part(rest)
                rest = b""
            up.rest = rest
            up.writer.settle()
        except Exception:  # noqa: BLE001 - the error that ended the stream is what the caller reports
            up.writer.abort()
            return
        up.touched = time.monotonic()
        with self._lock:
            dropped = [self._parked.pop((user, digest), None)]
            self._parked[(user, digest)] = up
            while len(self._parked) > PARKED_MAX:
                dropped.append(self._parked.pop(next(iter(self._parked))))
        for u in dropped:
            if u is not None:
                u.writer.abort()

    def committed(self, digest: str, user: str) -> int:
        keys.upload_prefix(user, digest)
        self._expire()
        with self._lock:
            up = self._parked.get((user, digest))
            return up.held if up else 0

    def receive(self, meta, chunks, user: str) -> tuple[int, Upload | None]:
        """Store the bytes of one stream (from ``meta.offset``).

        Returns the bytes stored afterwards and, when that is the whole archive, the upload to
        :meth:`finish` (an incomplete one is parked for a resume).
        """
        digest = _check_meta(meta)
        up = self._take(digest, user)
        held = up.held if up else 0
        if meta.offset != held:
            if up is not None:
                self._park(digest, user, up, up.rest)
            raise FailedPrecondition(
                f"upload offset {meta.offset} does not match the {held} bytes the server holds; resume from {held}")
        if up is None:
            up = Upload(self.storage.parts(SUBMISSIONS, keys.archive(digest)))
        buf, up.rest = bytearray(up.rest), b""
        try:
            for msg in chunks:
                if msg.WhichOneof("payload") != "chunk":
                    raise InvalidArgument("metadata may only be sent once, first")
                chunk = msg.chunk   # each read of a bytes field copies it out of the message: read it once
                if up.size + len(buf) + len(chunk) > meta.size:
                    raise InvalidArgument(f"more bytes than the announced {meta.size}")
                buf += chunk
                metrics.UPLOAD_BYTES.inc(len(chunk))
                if len(buf) >= SEGMENT:
                    up.part(bytes(buf))
                    buf = bytearray()
            if up.size + len(buf) < meta.size:
                self._park(digest, user, up, bytes(buf))
                return up.held, None
            if buf:
                up.part(bytes(buf))
            up.writer.settle()
        except BaseException:
            self._park(digest, user, up, bytes(buf))   # keep what arrived, even if the client went away
            raise
        return up.size, up

    def verify(self, meta, chunks) -> None:
        """Proof of possession of an archive that is already stored: every byte, from 0, hashed, nothing kept.

        Raises InvalidArgument unless the stream is exactly the stored archive."""
        digest = _check_meta(meta)
        if meta.offset != 0:
            raise InvalidArgument("this archive is already stored: send it whole (from offset 0) to prove you hold it")
        stored = self.storage.size(SUBMISSIONS, keys.archive(digest))
        sha, size = hashlib.sha256(), 0
        for msg in chunks:
            if msg.WhichOneof("payload") != "chunk":
                raise InvalidArgument("metadata may only be sent once, first")
            chunk = msg.chunk   # read once: each read of a bytes field copies it out of the message
            size += len(chunk)
            if size > stored:
                raise InvalidArgument(f"more bytes than the announced {meta.size}")
            sha.update(chunk)
        if size != stored or sha.hexdigest() != digest:
            raise InvalidArgument("the bytes sent are not the archive with this sha256; nothing was granted")

    def finish(self, digest: str, size: int, up: Upload, user: str) -> None:
        """Verify (sha256, the zip's end record) and publish: commit the upload under archives/."""
        try:
            if up.size != size or up.sha.hexdigest() != digest:
                raise InvalidArgument("sha256 mismatch: the archive was corrupted in transit; nothing was stored")
            if not zipfile.is_zipfile(io.BytesIO(up.tail)):
                raise InvalidArgument("the submission archive is not a zip file")
            if self.stored(digest):   # content-addressed and immutable: the same bytes are already there
                up.writer.abort()
                return
            up.writer.commit()
        except BaseException:
            up.writer.abort()
            raise
