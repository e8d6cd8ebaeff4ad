"""The Storage contract, on both backends: the local directory and S3 (a real SeaweedFS server).

Every service is written against ``zrc.storage.Storage``; the embedded CLI runs on the local backend and a
server on S3, so the two must agree on everything callers rely on: whole-object reads and writes, ranges,
sorted recursive listing by prefix, idempotent deletes, NotFound for what is absent, and conditional writes
(quotas, model-id claims and job records rely on them being atomic: of many concurrent writers exactly one
wins). The local half runs with the unit tests; the S3 half starts a server, hence ``integration``.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from zrc.storage import RESULTS, SUBMISSIONS, NotFound, PreconditionFailed
from zrc.storage.local import LocalStorage

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def storage(request, tmp_path):
    if request.param == "local":
        st = LocalStorage(tmp_path)
        st.ensure_buckets()
        return st
    return request.getfixturevalue("s3")   # tests/conftest.py


@pytest.fixture()
def ns(tmp_path) -> str:
    """A key prefix of this test's own: the S3 server is shared by the module's tests."""
    return f"contract/{tmp_path.name}/"


def test_put_then_get_replaces_whole_objects(storage, ns):
    key = ns + "a/b.bin"
    storage.put_bytes(RESULTS, key, b"first version")
    assert storage.get_bytes(RESULTS, key) == b"first version" and storage.size(RESULTS, key) == 13
    storage.put_bytes(RESULTS, key, b"v2")
    assert storage.get_bytes(RESULTS, key) == b"v2" and storage.size(RESULTS, key) == 2
    storage.put_bytes(RESULTS, ns + "empty", b"")
    assert storage.get_bytes(RESULTS, ns + "empty") == b"" and storage.exists(RESULTS, ns + "empty")
    storage.put_json(RESULTS, ns + "j.json", {"x": [1, "é"]})
    assert storage.get_json(RESULTS, ns + "j.json") == {"x": [1, "é"]}


def test_buckets_are_separate_namespaces(storage, ns):
    storage.put_bytes(RESULTS, ns + "k", b"results")
    storage.put_bytes(SUBMISSIONS, ns + "k", b"submissions")
    assert storage.get_bytes(RESULTS, ns + "k") == b"results"
    assert storage.get_bytes(SUBMISSIONS, ns + "k") == b"submissions"


def test_ranges_and_the_seekable_reader(storage, ns):
    data = bytes(range(256)) * 40
    storage.put_bytes(SUBMISSIONS, ns + "r", data)
    assert storage.read_range(SUBMISSIONS, ns + "r", 0, 10) == data[:10]
    assert storage.read_range(SUBMISSIONS, ns + "r", 1000, 333) == data[1000:1333]
    assert storage.read_range(SUBMISSIONS, ns + "r", len(data) - 5, 100) == data[-5:], "a range past the end is cut"
    with storage.open(SUBMISSIONS, ns + "r", buffer=100) as fh:
        fh.seek(-7, io.SEEK_END)
        assert fh.read() == data[-7:]
        fh.seek(4000)
        assert fh.read(300) == data[4000:4300] and fh.tell() == 4300


def test_put_file_streams_a_file_of_known_size(storage, ns):
    data = b"z" * 100_000
    storage.put_file(SUBMISSIONS, ns + "f", io.BytesIO(data), len(data))
    assert storage.get_bytes(SUBMISSIONS, ns + "f") == data


def test_list_is_recursive_sorted_and_by_prefix(storage, ns):
    keys = [ns + k for k in ("b/2", "a", "b/1", "b/sub/3", "c")]
    for k in keys:
        storage.put_bytes(RESULTS, k, b"x")
    assert storage.list(RESULTS, ns) == sorted(keys)
    assert storage.list(RESULTS, ns + "b/") == [ns + "b/1", ns + "b/2", ns + "b/sub/3"]
    assert storage.list(RESULTS, ns + "nothing/") == []
    ages = dict(storage.list_ages(RESULTS, ns))
    assert sorted(ages) == sorted(keys) and all(0 <= a < 600 for a in ages.values())


def test_delete_is_idempotent(storage, ns):
    storage.put_bytes(RESULTS, ns + "d", b"x")
    storage.delete(RESULTS, ns + "d")
    storage.delete(RESULTS, ns + "d")   # twice (two sweepers): no error
    assert not storage.exists(RESULTS, ns + "d") and storage.list(RESULTS, ns) == []


def test_copy_is_server_side(storage, ns):
    storage.put_bytes(SUBMISSIONS, ns + "src", b"abc")
    storage.copy(SUBMISSIONS, ns + "src", ns + "dst")
    assert storage.get_bytes(SUBMISSIONS, ns + "dst") == b"abc"


def test_parts_are_invisible_until_committed_and_an_abort_leaves_nothing(storage, ns):
    """An upload is stored part by part while it arrives (every part but the last at least ``min_part``)."""
    w = storage.parts(SUBMISSIONS, ns + "mp.zip")
    parts = [b"a" * w.min_part, b"b" * (w.min_part + 1), b"c" * 3]
    for data in parts:
        w.put(data)
    w.settle()
    assert not storage.exists(SUBMISSIONS, ns + "mp.zip")
    w.commit()
    assert storage.get_bytes(SUBMISSIONS, ns + "mp.zip") == b"".join(parts)
    w = storage.parts(SUBMISSIONS, ns + "gone.zip")
    w.put(b"x" * 10)
    w.abort()
    w.abort()   # idempotent: it runs on error paths
    assert storage.list(SUBMISSIONS, ns) == [ns + "mp.zip"]


def test_a_writer_left_unfinished_is_aborted_once_old(storage, ns):
    """What a gateway that died mid-upload leaves (an open multipart upload, a temp file) holds space unseen:
    the sweeper aborts it by age, and leaves younger ones (a live or parked upload) alone."""
    w = storage.parts(SUBMISSIONS, ns + "crashed.zip")
    w.put(b"x" * 10)
    w.settle()
    assert storage.abort_stale_parts(SUBMISSIONS, ns, older_than=3600) == 0
    time.sleep(2.2)   # S3 gives the start time in whole seconds
    live = storage.parts(SUBMISSIONS, ns + "live.zip")
    live.put(b"y" * 10)
    live.settle()
    assert storage.abort_stale_parts(SUBMISSIONS, ns, older_than=1.1) == 1
    assert storage.abort_stale_parts(SUBMISSIONS, ns, older_than=1.1) == 0
    live.commit()   # the young one was left alone
    assert storage.get_bytes(SUBMISSIONS, ns + "live.zip") == b"y" * 10
    assert storage.list(SUBMISSIONS, ns) == [ns + "live.zip"]


@pytest.mark.parametrize("call", ["get_bytes", "get_with_etag", "size", "read_range", "copy", "open"])
def test_what_is_absent_is_not_found(storage, ns, call):
    args = {"read_range": (0, 10), "copy": (ns + "to",)}.get(call, ())
    with pytest.raises(NotFound):
        getattr(storage, call)(RESULTS, ns + "missing", *args)
    assert not storage.exists(RESULTS, ns + "missing")


def test_put_if_absent_has_exactly_one_winner(storage, ns):
    key = ns + "slot"
    with ThreadPoolExecutor(16) as pool:
        wins = list(pool.map(lambda i: storage.put_if_absent(RESULTS, key, str(i).encode()), range(40)))
    assert wins.count(True) == 1
    assert storage.get_bytes(RESULTS, key) == str(wins.index(True)).encode(), "the winner's bytes are kept"
    assert storage.put_if_absent(RESULTS, key, b"late") is False


def test_put_if_match_refuses_a_stale_etag(storage, ns):
    key = ns + "record"
    storage.put_bytes(RESULTS, key, b"v1")
    data, etag = storage.get_with_etag(RESULTS, key)
    assert data == b"v1"
    storage.put_if_match(RESULTS, key, b"v2", etag)
    assert storage.get_bytes(RESULTS, key) == b"v2"
    with pytest.raises(PreconditionFailed):
        storage.put_if_match(RESULTS, key, b"v3", etag)  # written in between: the old etag no longer holds
    assert storage.get_bytes(RESULTS, key) == b"v2"
    assert storage.list(RESULTS, ns) == [key], "no lock or temp files are listed"


def test_put_if_match_on_a_deleted_object_fails(storage, ns):
    key = ns + "gone"
    storage.put_bytes(RESULTS, key, b"v1")
    _, etag = storage.get_with_etag(RESULTS, key)
    storage.delete(RESULTS, key)
    with pytest.raises((PreconditionFailed, NotFound)):
        storage.put_if_match(RESULTS, key, b"v2", etag)
    assert not storage.exists(RESULTS, key)


def test_of_concurrent_read_modify_writes_exactly_one_wins(storage, ns):
    key = ns + "counter"
    storage.put_bytes(RESULTS, key, b"0")
    _, etag = storage.get_with_etag(RESULTS, key)

    def write(i: int) -> bool:
        try:
            storage.put_if_match(RESULTS, key, f"w{i}".encode(), etag)
            return True
        except PreconditionFailed:
            return False

    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(write, range(16)))
    assert wins.count(True) == 1 and storage.get_bytes(RESULTS, key) == f"w{wins.index(True)}".encode()


def test_an_s3_upload_that_lost_a_part_is_never_completed():
    """A part that failed in the background fails the upload: completing without it would publish an object
    with a hole in it (whose bytes the caller has already hashed)."""
    from types import SimpleNamespace

    from zrc.storage import StorageUnavailable, s3

    calls = []

    class Client:
        def _create_multipart_upload(self, bucket, key, headers):
            return "upload-id"

        def _upload_part(self, bucket, key, data, headers, upload_id, number):
            if number == 1:
                raise OSError("connection reset by peer")
            return f"etag-{number}"

        def _complete_multipart_upload(self, *args):
            calls.append("complete")

        def _abort_multipart_upload(self, *args):
            calls.append("abort")

    w = s3._Parts(SimpleNamespace(client=Client(), buckets={SUBMISSIONS: "b"}), SUBMISSIONS, "k")
    with pytest.raises(StorageUnavailable):
        for _ in range(s3.PART_WRITERS + 2):
            w.put(b"x")
    with pytest.raises(StorageUnavailable):
        w.settle()
    with pytest.raises(StorageUnavailable):
        w.commit()
    w.abort()
    assert calls == ["abort"]
