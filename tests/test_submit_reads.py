"""`zrc submit` reads the submitted archive once on the server (issue 9: it was scanned twice)."""

from __future__ import annotations

import collections

import pytest

from zrc.client import Client
from zrc.embedded import Embedded
from zrc.pb.gateway.v1 import gateway_pb2

pytestmark = pytest.mark.integration


def test_submit_validates_the_archive_once(slm21_case, tmp_path):
    """ValidateSubmission then Evaluate(publish) (what `zrc submit` sends) share one validation: the job's
    runner finds the answer ValidateSubmission kept and does not validate (read every file) again. After it
    the pairs scorers open the archive for their one score file each; the semantic scorer opens nothing
    (validation pooled its vectors)."""
    dataset_dir, sub = slm21_case
    emb = Embedded(tmp_path / "server").start()
    read: collections.Counter[str] = collections.Counter()
    opened: collections.Counter[str] = collections.Counter()
    storage = emb.storage
    read_range, open_ = storage.read_range, storage.open

    def counting_read(bucket, key, offset, length):
        data = read_range(bucket, key, offset, length)
        read[key] += len(data)
        return data

    def counting_open(bucket, key, *args, **kwargs):
        opened[key] += 1
        return open_(bucket, key, *args, **kwargs)
    storage.read_range, storage.open = counting_read, counting_open  # type: ignore[method-assign]
    try:
        with Client(emb.address) as c:
            c.import_dataset(dataset_dir, "sLM21-dataset")
            up = c.upload_folder(sub)
            key = f"archives/{up.digest}.zip"
            read.clear(), opened.clear()
            assert c.validate(up.digest, "sLM21").ok
            assert opened[key] == 1 and read[key] >= up.size, "validation read the whole archive"
            job = c.wait(c.evaluate(up.digest, "sLM21", publish=True))
            assert job.state == gateway_pb2.JOB_STATE_SUCCEEDED
            assert opened[key] == 1 + 4, "one validation, then the 4 pairs parts (lexical, syntactic × dev, test)"
    finally:
        emb.close()
