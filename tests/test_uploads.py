"""Resumable uploads over local storage (gateway/uploads.py), driven as the gateway drives them.

What must hold: whatever arrived before an interruption is kept and a client resumes from exactly there;
nothing is visible as a submission until every byte is there and hashes to the announced sha256; a wrong
offset, a wrong digest, a size that does not match are refused with a sentence saying what to do; users
never share segments; an abandoned upload is swept once old and nothing else is.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import zipfile

import pytest

from zrc.core.errors import FailedPrecondition, InvalidArgument
from zrc.gateway import uploads as up
from zrc.pb.gateway.v1 import gateway_pb2
from zrc.storage import SUBMISSIONS, keys
from zrc.storage import local as local_storage
from zrc.storage.local import LocalStorage

SEG = 4096   # small segments, so that a small archive spans several (the production size is 8 MiB)


@pytest.fixture(params=[1, 3 * SEG], ids=["any part", "S3-like smallest part"])
def uploads(request, tmp_path, monkeypatch) -> up.Uploads:
    """Over local storage, which takes parts of any size, and as if it were S3, which takes no part under
    5 MiB but the last (an interrupted stream's tail is then held by the gateway until the client resumes)."""
    monkeypatch.setattr(up, "SEGMENT", SEG)
    monkeypatch.setattr(local_storage._Parts, "min_part", request.param)
    storage = LocalStorage(tmp_path)
    storage.ensure_buckets()
    return up.Uploads(storage)


def archive(n_bytes: int = 5 * SEG + 123, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("lexical/dev.txt", os.urandom(n_bytes) if seed is None else
                   bytes((i * 7 + seed) % 251 for i in range(n_bytes)))
    return buf.getvalue()


class Interrupted(Exception):
    """The client went away mid-stream (what grpc raises from the request iterator)."""


def send(u: up.Uploads, data: bytes, user: str = "alice", offset: int = 0, upto: int | None = None,
         digest: str | None = None, size: int | None = None, chunk: int = 1000) -> int:
    """One UploadSubmission stream as the gateway handles it: receive, then finish once complete.
    ``upto`` stops the stream there (the client is interrupted); returns the bytes the server holds."""
    digest = digest or hashlib.sha256(data).hexdigest()
    size = len(data) if size is None else size
    meta = gateway_pb2.UploadMetadata(sha256=digest, size=size, offset=offset)

    end = len(data) if upto is None else upto

    def chunks():
        pos = offset
        while pos < end:
            yield gateway_pb2.UploadSubmissionRequest(chunk=data[pos:min(pos + chunk, end)])
            pos = min(pos + chunk, end)
        if end < len(data):
            raise Interrupted()

    try:
        held, streamed = u.receive(meta, chunks(), user)
    except Interrupted:
        return u.committed(digest, user)
    if held == size:
        u.finish(digest, size, streamed, user)
    return held


def stored(u: up.Uploads, data: bytes) -> bytes:
    return u.storage.get_bytes(SUBMISSIONS, keys.archive(hashlib.sha256(data).hexdigest()))


def leftovers(u: up.Uploads) -> list[str]:
    return [k for k in u.storage.list(SUBMISSIONS) if not k.startswith("archives/")]


def hidden(u: up.Uploads) -> list[str]:
    """Uploads in progress: the local store's temp files (never listed as objects)."""
    return [str(p) for p in u.storage.root.rglob(".tmp-*")]


def test_one_stream_stores_the_archive_and_leaves_nothing_else(uploads):
    data = archive()
    assert send(uploads, data) == len(data)
    assert stored(uploads, data) == data and leftovers(uploads) == [] == hidden(uploads)


def test_an_interrupted_upload_keeps_its_bytes_and_resumes_from_there(uploads):
    data = archive()
    digest = hashlib.sha256(data).hexdigest()
    held = send(uploads, data, upto=2 * SEG + 500)
    assert held == 2 * SEG + 500, "every byte that arrived is kept, even from a client that went away"
    assert uploads.committed(digest, "alice") == held and not uploads.stored(digest)
    held = send(uploads, data, offset=held, upto=4 * SEG)     # interrupted again
    assert held == 4 * SEG and not uploads.stored(digest)
    assert send(uploads, data, offset=held) == len(data)
    assert stored(uploads, data) == data and leftovers(uploads) == [] == hidden(uploads), "nothing but the archive is left"


def test_resuming_from_another_offset_is_refused_with_the_offset_to_use(uploads):
    data = archive()
    held = send(uploads, data, upto=SEG + 10)
    for wrong in (0, held - 1, held + 1):
        with pytest.raises(FailedPrecondition, match=f"resume from {held}"):
            send(uploads, data, offset=wrong)
    assert send(uploads, data, offset=held) == len(data) and stored(uploads, data) == data


@pytest.mark.parametrize("resumed", [False, True])
def test_bytes_that_are_not_the_announced_sha256_are_never_stored(uploads, resumed):
    data, other = archive(seed=1), archive(seed=2)
    assert len(data) == len(other)
    claimed = hashlib.sha256(data).hexdigest()
    held = send(uploads, other, digest=claimed, upto=SEG + 3) if resumed else 0
    with pytest.raises(InvalidArgument, match="sha256 mismatch"):
        send(uploads, other, digest=claimed, offset=held)
    assert not uploads.stored(claimed) and leftovers(uploads) == [] == hidden(uploads), "a corrupt upload leaves nothing behind"
    assert uploads.committed(claimed, "alice") == 0, "the next attempt starts over"


def test_more_bytes_than_announced_are_refused(uploads):
    data = archive()
    with pytest.raises(InvalidArgument, match=f"more bytes than the announced {len(data) - 1}"):
        send(uploads, data, size=len(data) - 1)
    assert not uploads.stored(hashlib.sha256(data).hexdigest())


def test_fewer_bytes_than_announced_are_held_but_not_visible(uploads):
    data = archive()
    digest = hashlib.sha256(data).hexdigest()
    assert send(uploads, data, size=len(data) + 10) == len(data)
    assert not uploads.stored(digest) and uploads.committed(digest, "alice") == len(data)


@pytest.mark.parametrize("size", [0, -1, up.MAX_UPLOAD + 1])
def test_an_announced_size_out_of_range_is_refused(uploads, size):
    with pytest.raises(InvalidArgument, match="out of range"):
        send(uploads, archive(), size=size)


def test_a_digest_that_is_not_a_sha256_is_refused(uploads):
    with pytest.raises(InvalidArgument, match="64 hex digits"):
        send(uploads, archive(), digest="../../etc/passwd")


def test_an_archive_that_is_not_a_zip_is_refused_and_dropped(uploads):
    data = os.urandom(3 * SEG)
    with pytest.raises(InvalidArgument, match="not a zip"):
        send(uploads, data)
    assert leftovers(uploads) == [] == hidden(uploads) and not uploads.stored(hashlib.sha256(data).hexdigest())


def test_a_user_never_resumes_from_another_users_bytes(uploads):
    data = archive()
    digest = hashlib.sha256(data).hexdigest()
    held = send(uploads, data, user="alice", upto=3 * SEG)
    assert uploads.committed(digest, "bob") == 0
    with pytest.raises(FailedPrecondition, match="resume from 0"):
        send(uploads, data, user="bob", offset=held)
    with pytest.raises(InvalidArgument, match="invalid user name"):
        uploads.committed(digest, "../alice")


@pytest.mark.parametrize("users", [[f"user{i}" for i in range(6)], ["alice"] * 3], ids=["six users", "one user"])
def test_concurrent_uploads_of_the_same_archive_store_it_once_intact(uploads, users):
    """Several users send the same archive at once (a shared baseline), or one client retries while its
    first stream still runs: the one archive object holds the right bytes and no segment is left over. A
    stream that finds the user's bytes already there is told where to resume, never "not a zip"."""
    data = archive(n_bytes=12 * SEG)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(users))

    def one(user: str) -> None:
        barrier.wait()
        try:
            assert send(uploads, data, user=user, chunk=777) == len(data)
        except FailedPrecondition as exc:   # told where to resume: another stream of this user got there first
            if len(set(users)) > 1:
                errors.append(exc)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert stored(uploads, data) == data and leftovers(uploads) == [] == hidden(uploads)


def test_an_abandoned_upload_is_dropped_once_old_and_a_live_one_is_kept(uploads):
    """A parked upload ages from its last stream: an abandoned one is dropped (its stored parts with it) after
    PARK_SECONDS, a user's other, live upload does not keep it alive, and a resumed one is not dropped under
    its client."""
    abandoned, live = archive(seed=3), archive(seed=4)
    d_abandoned, d_live = (hashlib.sha256(x).hexdigest() for x in (abandoned, live))
    send(uploads, abandoned, upto=2 * SEG)
    held = send(uploads, live, upto=2 * SEG)
    uploads._parked[("alice", d_abandoned)].touched -= up.PARK_SECONDS + 1
    uploads._parked[("alice", d_live)].touched -= up.PARK_SECONDS - 60
    send(uploads, live, offset=held, upto=3 * SEG)   # the live one resumes: young again
    assert uploads.committed(d_abandoned, "alice") == 0 and len(hidden(uploads)) == 1
    assert uploads.committed(d_live, "alice") == 3 * SEG
    assert send(uploads, live, offset=3 * SEG) == len(live) and stored(uploads, live) == live
    assert hidden(uploads) == [] and leftovers(uploads) == []


def test_a_stream_that_finishes_second_never_overwrites_the_stored_archive(uploads):
    """Two streams of one user race: the first stores the archive while the second still runs. The second
    leaves the stored object alone and nothing behind."""
    data = archive(n_bytes=6 * SEG)
    digest = hashlib.sha256(data).hexdigest()
    meta = gateway_pb2.UploadMetadata(sha256=digest, size=len(data), offset=0)
    chunks = (gateway_pb2.UploadSubmissionRequest(chunk=data[p:p + 1000]) for p in range(0, len(data), 1000))
    held, upload = uploads.receive(meta, chunks, "alice")
    assert held == len(data) and upload is not None
    uploads.storage.put_bytes(SUBMISSIONS, keys.archive(digest), data)   # the other stream finished first
    uploads.finish(digest, len(data), upload, "alice")
    assert stored(uploads, data) == data and leftovers(uploads) == [] and hidden(uploads) == []
