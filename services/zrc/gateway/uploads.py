"""Resumable, chunked uploads of submission archives into object storage.

Bytes arrive in a client stream and are stored as segments
``uploads/<user>/<sha256>/<offset>-<length>`` (8 MiB each; whatever arrived before an
interruption is kept, even when the client disconnects). ``committed`` is the
contiguous prefix the server holds, which a client resumes from. Once every
byte is there it is checked (sha256, the zip's end record): the segments of
one stream (hashed on the way in) are composed server-side, a resumed upload is
staged while hashed and only then is it
copied to ``archives/<sha256>.zip``: a partial or corrupt upload is never
visible as a submission. Memory use is a few segments (those being stored), whatever the archive size.

Segments are kept per user: ownership of an archive is proof of possession (see
``auth.py``), so a user may never finish, or resume from, bytes another user sent.
An archive that is already stored is re-sent in full by a new owner and hashed
(:meth:`Uploads.verify`) but not stored again.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor

import structlog

from zrc.common import metrics
from zrc.core.errors import FailedPrecondition, InvalidArgument
from zrc.storage import SUBMISSIONS, ChainReader, NotFound, Storage, keys

log = structlog.get_logger("zrc.gateway.uploads")
SEGMENT = 8 << 20
WRITERS = 4          # segments stored in parallel: one PUT at a time held the stream to 50-80 MB/s
WRITES_AHEAD = 4     # segments queued for storage while the next ones arrive (memory: this many + 1 segments)
MAX_UPLOAD = 64 << 30
_SEG = re.compile(r"^(\d{16})-(\d{16})$")


def _check_meta(meta) -> str:
    digest = (meta.sha256 or "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise InvalidArgument("metadata.sha256 must be the archive's sha256 (64 hex digits)")
    if meta.size <= 0 or meta.size > MAX_UPLOAD:
        raise InvalidArgument(f"announced size {meta.size} is out of range")
    return digest


class Uploads:
    def __init__(self, storage: Storage):
        self.storage = storage

    def stored(self, digest: str) -> bool:
        return self.storage.exists(SUBMISSIONS, keys.archive(digest))

    def chain(self, digest: str, user: str) -> list[tuple[int, int, str]]:
        """Contiguous segments from offset 0 (the longest one at each offset) that ``user`` sent."""
        prefix = keys.upload_prefix(user, digest)
        by_offset: dict[int, tuple[int, str]] = {}
        for key in self.storage.list(SUBMISSIONS, prefix):
            m = _SEG.match(key[len(prefix):])
            if m:
                off, length = int(m.group(1)), int(m.group(2))
                if length > by_offset.get(off, (0, ""))[0]:
                    by_offset[off] = (length, key)
        out, pos = [], 0
        while pos in by_offset:
            length, key = by_offset[pos]
            out.append((pos, length, key))
            pos += length
        return out

    def committed(self, digest: str, user: str) -> int:
        chain = self.chain(digest, user)
        return chain[-1][0] + chain[-1][1] if chain else 0

    def receive(self, meta, chunks, user: str) -> tuple[int, str | None]:
        """Store the bytes of one stream (from ``meta.offset``).

        Returns the committed size afterwards and, when this stream carried the whole archive from byte 0,
        its sha256 (so that finishing needs no second verification pass).
        """
        digest = _check_meta(meta)
        held = self.committed(digest, user)
        if meta.offset != held:
            raise FailedPrecondition(
                f"upload offset {meta.offset} does not match the {held} bytes the server holds; resume from {held}")
        pos, buf = held, bytearray()
        sha = hashlib.sha256() if held == 0 else None
        # Segments are written by WRITERS background threads while the next ones arrive: receiving and storing
        # overlap instead of alternating. At most WRITES_AHEAD segments wait (bounded memory). A segment stored
        # before an earlier one failed is harmless: the committed size is the contiguous prefix (chain()).
        writer = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="upload-writer")
        pending: list[Future] = []
        written = held

        def store(key: str, data: bytes) -> int:
            self.storage.put_bytes(SUBMISSIONS, key, data)
            return len(data)

        def flush() -> None:
            nonlocal pos, buf, written
            if buf:
                pending.append(writer.submit(store, keys.upload_segment(user, digest, pos, len(buf)), bytes(buf)))
                pos += len(buf)
                buf = bytearray()
            while len(pending) > WRITES_AHEAD or (pending and pending[0].done()):
                written += pending.pop(0).result()   # a storage error surfaces here

        try:
            for msg in chunks:
                if msg.WhichOneof("payload") != "chunk":
                    raise InvalidArgument("metadata may only be sent once, first")
                chunk = msg.chunk   # each read of a bytes field copies it out of the message: read it once
                if pos + len(buf) + len(chunk) > meta.size:
                    raise InvalidArgument(f"more bytes than the announced {meta.size}")
                buf += chunk
                metrics.UPLOAD_BYTES.inc(len(chunk))
                if sha is not None:
                    sha.update(chunk)
                if len(buf) >= SEGMENT:
                    flush()
        finally:
            try:
                flush()  # keep what arrived, even if the client went away: it can resume
                for f in pending:
                    written += f.result()
            finally:
                writer.shutdown(wait=True)
        return written, (sha.hexdigest() if sha is not None and written == meta.size else None)

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
            size += len(msg.chunk)
            if size > stored:
                raise InvalidArgument(f"more bytes than the announced {meta.size}")
            sha.update(msg.chunk)
        if size != stored or sha.hexdigest() != digest:
            raise InvalidArgument("the bytes sent are not the archive with this sha256; nothing was granted")

    def finish(self, digest: str, size: int, streamed_sha: str | None, user: str) -> None:
        """Verify and publish (:meth:`_finish`). Two streams of one user racing to finish the same archive (a
        client retrying while its first stream still runs) share segments: the one that finishes second finds
        them gone. That is no error when this stream hashed every byte itself (possession is proven) and the
        archive is stored by then; anything else still fails."""
        try:
            self._finish(digest, size, streamed_sha, user)
        except (InvalidArgument, NotFound, FailedPrecondition):
            if streamed_sha != digest or not self.stored(digest):
                raise
            self.discard(digest, user)   # what this stream wrote after the other one finished is left over

    def _finish(self, digest: str, size: int, streamed_sha: str | None, user: str) -> None:
        """Verify (sha256, zip) and publish under archives/; then drop the segments.

        An archive that arrived in one stream was hashed on the way in: it is checked to be a zip from its
        tail and its segments are concatenated server-side into the final key. A resumed one is assembled into a staging object
        while hashed, and copied only if it matches.
        """
        chain = self.chain(digest, user)
        segments = [k for _, _, k in chain]
        if streamed_sha is not None:
            if streamed_sha != digest:
                self.discard(digest, user)
                raise InvalidArgument("sha256 mismatch: the archive was corrupted in transit; nothing was stored")
            held = chain[-1][0] + chain[-1][1] if chain else 0
            if held != size:   # another stream of this user finished (and dropped the segments) meanwhile
                raise FailedPrecondition(f"the server holds {held} of the {size} bytes; resume from {held}")
            if self.stored(digest):   # content-addressed and immutable: the same bytes are already there
                self.discard(digest, user)
                return
            self._check_zip_tail(digest, segments, user)
            # server-side where the store can: the bytes do not travel through the gateway again
            self.storage.compose(SUBMISSIONS, keys.archive(digest), segments)
            self.discard(digest, user)
            return
        staging = keys.staging(user, digest)
        reader = ChainReader(self.storage, SUBMISSIONS, segments, hashed=True)
        try:
            self.storage.put_file(SUBMISSIONS, staging, reader, size)
            if reader.sha is None or reader.sha.hexdigest() != digest:   # hashed=True: never None
                self.discard(digest, user)
                raise InvalidArgument("sha256 mismatch: the archive was corrupted in transit; nothing was stored")
            self._check_zip_tail(digest, segments, user)
            self.storage.copy(SUBMISSIONS, staging, keys.archive(digest))
        finally:
            self.storage.delete(SUBMISSIONS, staging)
        self.discard(digest, user)

    def _check_zip_tail(self, digest: str, segments: list[str], user: str) -> None:
        """A zip ends with its end-of-central-directory record (within the last 64 KiB + 22 bytes)."""
        tail = b""
        for key in reversed(segments):
            tail = self.storage.get_bytes(SUBMISSIONS, key) + tail
            if len(tail) >= (1 << 16) + 22:
                break
        if not zipfile.is_zipfile(io.BytesIO(tail)):
            self.discard(digest, user)
            raise InvalidArgument("the submission archive is not a zip file")

    def discard(self, digest: str, user: str) -> None:
        for key in self.storage.list(SUBMISSIONS, keys.upload_prefix(user, digest)):
            try:
                self.storage.delete(SUBMISSIONS, key)
            except NotFound:
                pass
