"""Client side of gRPC: channel options and channels (plaintext or TLS), for the CLI, the gateway's calls to
the internal services and the tests.

Nothing here imports a server module: ``import zrc.client`` must not pull in the server runtime, storage or a
service (a test checks it).

``grpcs://host:port`` means TLS (system roots, or ``ZRC_CA_FILE``); ``host:port`` or ``grpc://host:port`` is
plaintext, which the client refuses to use with a token unless the host is loopback (or a Unix socket) or
``ZRC_ALLOW_PLAINTEXT=1`` says the operator accepts it: a bearer token in clear is a stolen token.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import grpc

MAX_MESSAGE = 32 << 20           # score files of a whole set fit; uploads are chunked far below this
CHUNK = 4 << 20                  # upload chunk size: 4 MiB messages move ~30% more bytes per second than 1 MiB
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
]
# Clients spread calls over every address a name resolves to (Kubernetes headless Services give one per pod).
CLIENT_OPTIONS = [*GRPC_OPTIONS,
                  ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
                  ("grpc.dns_min_time_between_resolutions_ms", 10_000)]


class InsecureTransport(ValueError):
    """The client would send a token in clear to a remote host."""


class TLSConfigError(ValueError):
    """Unreadable certificate, key or CA file."""


def read_pem(path: str, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if b"-----BEGIN" not in data:
        raise TLSConfigError(f"the {what} {path} is not a PEM file")
    return data


def channel(address: str) -> grpc.Channel:
    """A plaintext channel between services (or to a local stack), with the shared options."""
    return grpc.insecure_channel(address, options=CLIENT_OPTIONS)


def parse_server(server: str) -> tuple[str, bool]:
    """(gRPC target, TLS?) of a ZRC_SERVER value."""
    if server.startswith("grpcs://"):
        return server.removeprefix("grpcs://").rstrip("/"), True
    if server.startswith("grpc://"):
        return server.removeprefix("grpc://").rstrip("/"), False
    return server, False


def is_local(target: str) -> bool:
    """A Unix socket or a loopback address: plaintext never leaves the machine."""
    if target.startswith("unix:"):
        return True
    host = target.rpartition(":")[0].strip("[]") or target
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_channel(server: str, options, *, token: bool, ca_file: str | None = None,
                   allow_plaintext: bool = False) -> grpc.Channel:
    target, secure = parse_server(server)
    if secure:
        roots = read_pem(ca_file, "CA file (ZRC_CA_FILE)") if ca_file else None
        return grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=roots), options=options)
    if token and not allow_plaintext and not is_local(target):
        raise InsecureTransport(
            f"refusing to send a token in clear to {target}: use grpcs://{target} (TLS), or set "
            "ZRC_ALLOW_PLAINTEXT=1 if this network is trusted")
    return grpc.insecure_channel(target, options=options)


def failure_sentence(server: str, details: str) -> str:
    """One sentence for an unreachable grpcs:// server, naming the likely TLS cause."""
    d = details.lower()
    if "certificate" in d or "ssl" in d or "handshake" in d or "tls" in d:
        return (f"the TLS connection to {server} failed: its certificate is not trusted or does not match the "
                "host name (set ZRC_CA_FILE to the CA that signed it), or it does not speak TLS "
                "(use host:port without grpcs://)")
    return f"cannot reach the zrc server at {server} (ZRC_SERVER): is it running? unset ZRC_SERVER to evaluate locally"
