"""The embedded stack (the CLI without ZRC_SERVER) is reachable only by its own user, and only the gateway may call
its internal services."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import grpc
import pytest

from zrc.common.runtime import channel
from zrc.embedded import start_embedded
from zrc.pb.results.v1 import results_pb2, results_pb2_grpc

pytestmark = pytest.mark.integration   # starts the embedded stack


def test_embedded_services_listen_on_private_unix_sockets(tmp_path):
    emb = start_embedded(tmp_path / "home")
    try:
        assert emb.address.startswith("unix:"), "no TCP port another user of the machine could call"
        sockets = Path(emb.sockets)
        assert stat.S_IMODE(os.stat(sockets).st_mode) == 0o700
        assert sorted(p.name for p in sockets.iterdir())[0] == "gateway.sock"
        with channel(f"unix:{sockets}/results.sock") as ch:  # the admin-less gateway's back door: closed
            with pytest.raises(grpc.RpcError) as exc:
                results_pb2_grpc.ResultsServiceStub(ch).PublishEntry(
                    results_pb2.PublishEntryRequest(benchmark="sLM21", entry_id="0" * 32), timeout=10)
            assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        emb.close()
    assert not sockets.exists(), "the socket directory is removed on close"
