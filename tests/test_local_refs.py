"""Local folder references: only the embedded stack's own process can make one; a server refuses them."""

from __future__ import annotations

import grpc
import pytest

from zrc.client import Client
from zrc.common.data import open_submission
from zrc.common.local import LocalFolders, LocalRefError
from zrc.embedded import start_embedded
from zrc.gateway.server import GatewayServicer
from zrc.storage import DATASETS
from zrc.storage.local import LocalStorage


def _servicer(tmp_path, local):
    storage = LocalStorage(tmp_path / "store")
    storage.ensure_buckets()
    storage.put_json(DATASETS, "sLM21-dataset/manifest.json", {"benchmark": "sLM21", "digest": "x"})
    return GatewayServicer(storage, clients=None, runner=None, auth=None, local=local)


def _selection(ref: str, digest: str = "0" * 64):
    from zrc.pb.common.v1 import common_pb2
    return common_pb2.Selection(submission_digest=digest, benchmark="sLM21", local_ref=ref)


def test_a_server_refuses_local_references(tmp_path, slm21_case):
    # a gateway built without the embedded registry (every deployed server) never opens a path
    with pytest.raises(LocalRefError, match="only by the embedded stack"):
        _servicer(tmp_path, None).jobs.check(_selection("local-abc"), None)
    with pytest.raises(LocalRefError, match="only by the embedded stack"):
        open_submission(LocalStorage(tmp_path / "s"), "0" * 64, str(slm21_case[1]), None)


def test_only_registered_folders_are_read(tmp_path, slm21_case):
    local = LocalFolders()
    gw = _servicer(tmp_path, local)
    # a path (or a guessed reference) sent over the wire is not a registered folder
    with pytest.raises(LocalRefError, match="unknown local folder reference"):
        gw.jobs.check(_selection(str(slm21_case[1])), None)
    ref, digest = local.register(slm21_case[1])
    gw.jobs.check(_selection(ref, digest), None)
    assert local.open(ref).exists("lexical/dev.txt")


def test_fingerprint_follows_the_files(tmp_path, slm21_copy):
    _, sub = slm21_copy
    local = LocalFolders()
    _, d1 = local.register(sub)
    assert local.register(sub)[1] == d1, "same files, same digest: cached results are reused"
    (sub / "scores").mkdir(exist_ok=True)
    (sub / "scores" / "x.csv").write_text("ignored")
    assert local.register(sub)[1] == d1, "scores/ is not part of the submission"
    (sub / "lexical/dev.txt").write_text((sub / "lexical/dev.txt").read_text() + "\n")
    assert local.register(sub)[1] != d1


@pytest.mark.integration
def test_embedded_gateway_refuses_a_path_from_another_client(tmp_path, slm21_case):
    """Another process reaching the loopback port cannot name a folder: references are random and in-process."""
    emb = start_embedded(tmp_path / "home")
    try:
        with Client(emb.address) as other:
            other.import_dataset(slm21_case[0], "sLM21-dataset")
            with pytest.raises(grpc.RpcError) as exc:
                other.evaluate("0" * 64, "sLM21", local_ref=str(slm21_case[1]))
            assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "unknown local folder reference" in exc.value.details()
    finally:
        emb.close()
