"""TLS on a server port (certificate reloaded from its files), the plaintext health-only port, and clients that
refuse to send a token in clear."""

from __future__ import annotations

import os
import shutil
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from zrc.common import channel as tls
from zrc.common import runtime
from zrc.common.channel import CLIENT_OPTIONS
from zrc.common.runtime import LIVENESS, start_server
from zrc.devcerts import write_ca_and_server
from zrc.stack import free_port

pytestmark = pytest.mark.integration   # starts TLS servers


@pytest.fixture()
def server(tmp_path):
    ca, cert, key = write_ca_and_server(tmp_path / "a")
    port, health = free_port(), free_port()
    srv, _, _, stop = start_server("t", lambda s: [], f"127.0.0.1:{port}", 2, None,
                                   credentials=runtime.server_credentials(str(cert), str(key)),
                                   health_listen=f"127.0.0.1:{health}")
    yield {"port": port, "health": health, "ca": ca, "cert": cert, "key": key, "dir": tmp_path}
    stop.set()
    srv.stop(0)
    srv.zrc_health_server.stop(0)


def _check(channel, service: str = "") -> int:
    with channel as ch:
        return health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_tls_only_with_the_right_ca(server):
    url = f"grpcs://127.0.0.1:{server['port']}"
    assert _check(tls.client_channel(url, CLIENT_OPTIONS, token=True, ca_file=str(server["ca"]))) in (
        health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING)
    with pytest.raises(grpc.RpcError) as exc:   # the system roots do not know a throwaway CA
        _check(tls.client_channel(url, CLIENT_OPTIONS, token=True))
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "TLS connection" in tls.failure_sentence(url, exc.value.details())
    with pytest.raises(grpc.RpcError):          # no plaintext on the TLS port
        _check(grpc.insecure_channel(f"127.0.0.1:{server['port']}"))


def test_certificate_is_reloaded_when_its_files_change(server):
    url = f"grpcs://127.0.0.1:{server['port']}"
    new_ca, new_cert, new_key = write_ca_and_server(server["dir"] / "b")
    shutil.copy(new_key, server["key"])
    shutil.copy(new_cert, server["cert"])
    later = time.time() + 5
    os.utime(server["key"], (later, later))
    os.utime(server["cert"], (later, later))
    assert _check(tls.client_channel(url, CLIENT_OPTIONS, token=True, ca_file=str(new_ca))) is not None
    with pytest.raises(grpc.RpcError):
        _check(tls.client_channel(url, CLIENT_OPTIONS, token=True, ca_file=str(server["ca"])))


def test_plaintext_health_port_for_probes(server):
    ch = grpc.insecure_channel(f"127.0.0.1:{server['health']}")
    assert _check(ch, LIVENESS) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("target,allowed", [("grpc://10.0.0.7:50051", False), ("zrc.example.org:50051", False),
                                            ("127.0.0.1:50051", True), ("localhost:1", True), ("[::1]:5", True),
                                            ("unix:/tmp/x.sock", True)])
def test_no_token_in_clear_to_a_remote_host(target, allowed):
    if allowed:
        tls.client_channel(target, CLIENT_OPTIONS, token=True).close()
    else:
        with pytest.raises(tls.InsecureTransport, match="grpcs://"):
            tls.client_channel(target, CLIENT_OPTIONS, token=True)
    tls.client_channel(target, CLIENT_OPTIONS, token=True, allow_plaintext=True).close()
    tls.client_channel(target, CLIENT_OPTIONS, token=False).close()


def test_cli_says_why_in_one_sentence(monkeypatch, capsys, tmp_path):
    from zrc.cli.main import main
    monkeypatch.setenv("ZRC_HOME", str(tmp_path))
    monkeypatch.setenv("ZRC_SERVER", "zrc.example.org:50051")
    monkeypatch.setenv("ZRC_TOKEN", "zrc_secret")
    monkeypatch.delenv("ZRC_ALLOW_PLAINTEXT", raising=False)
    assert main(["user:whoami"]) == 2
    err = capsys.readouterr().err
    assert "refusing to send a token in clear" in err and "zrc_secret" not in err


def test_half_configured_tls_fails_fast():
    with pytest.raises(SystemExit) as exc:
        runtime.base_settings({"ZRC_STORAGE": "local", "ZRC_STORAGE_DIR": "/tmp/x", "ZRC_TLS_CERT": "c.pem"})
    assert exc.value.code == 2
