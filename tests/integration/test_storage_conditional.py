"""Contract of the storage's conditional writes, on both backends (the S3 one against a real SeaweedFS server).

Quotas and model-id claims rely on them being atomic: of many concurrent writers exactly one wins.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from zrc.stack import Stack
from zrc.storage import RESULTS, PreconditionFailed
from zrc.storage.local import LocalStorage
from zrc.storage.s3 import S3Storage

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    st = Stack(tmp_path_factory.mktemp("s3only"))
    try:
        st.start_s3()
        yield S3Storage(st.s3["endpoint"], st.s3["access_key"], st.s3["secret_key"])
    finally:
        st.down()


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        st = LocalStorage(tmp_path)
        st.ensure_buckets()
        return st
    return request.getfixturevalue("s3")


def test_put_if_absent_has_exactly_one_winner(storage, tmp_path):
    key = f"cond/{tmp_path.name}/slot"
    with ThreadPoolExecutor(16) as pool:
        wins = list(pool.map(lambda i: storage.put_if_absent(RESULTS, key, str(i).encode()), range(40)))
    assert wins.count(True) == 1
    assert storage.get_bytes(RESULTS, key) == str(wins.index(True)).encode(), "the winner's bytes are kept"
    assert storage.put_if_absent(RESULTS, key, b"late") is False


def test_put_if_match_refuses_a_stale_etag(storage, tmp_path):
    key = f"cond/{tmp_path.name}/record"
    storage.put_bytes(RESULTS, key, b"v1")
    data, etag = storage.get_with_etag(RESULTS, key)
    assert data == b"v1"
    storage.put_if_match(RESULTS, key, b"v2", etag)
    assert storage.get_bytes(RESULTS, key) == b"v2"
    with pytest.raises(PreconditionFailed):
        storage.put_if_match(RESULTS, key, b"v3", etag)  # written in between: the old etag no longer holds
    assert storage.get_bytes(RESULTS, key) == b"v2"
    assert storage.list(RESULTS, f"cond/{tmp_path.name}/") == [key], "no lock or temp files are listed"


def test_compose_takes_sources_of_any_size(storage, tmp_path):
    """The S3 minimum part size is the S3 backend's business: small sources are concatenated all the same."""
    from zrc.storage import SUBMISSIONS
    from zrc.storage.s3 import MIN_PART

    base = f"compose/{tmp_path.name}"
    small, big = [b"a" * 10, b"b" * 7, b"c"], [b"x" * MIN_PART, b"y" * MIN_PART, b"z" * 3]
    for name, parts in (("small", small), ("big", big)):
        srcs = [f"{base}/{name}-{i}" for i in range(len(parts))]
        for k, data in zip(srcs, parts, strict=True):
            storage.put_bytes(SUBMISSIONS, k, data)
        storage.compose(SUBMISSIONS, f"{base}/{name}.zip", srcs)
        assert storage.get_bytes(SUBMISSIONS, f"{base}/{name}.zip") == b"".join(parts)
