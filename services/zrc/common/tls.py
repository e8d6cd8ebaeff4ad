"""TLS: the gateway's certificate from files (reloaded when they change), and clients that speak it.

Server side, ``ZRC_TLS_CERT`` / ``ZRC_TLS_KEY`` name PEM files (a Kubernetes Secret
volume, e.g. one cert-manager renews). gRPC asks for the certificate at each new
handshake; the files' mtimes are compared then, so a renewed certificate is served
without a restart and a half-written pair is kept out (the old one stays until
both files load).

Client side, ``grpcs://host:port`` means TLS (system roots, or ``ZRC_CA_FILE``);
``host:port`` or ``grpc://host:port`` is plaintext, which the client refuses to
use with a token unless the host is loopback (or a Unix socket) or
``ZRC_ALLOW_PLAINTEXT=1`` says the operator accepts it: a bearer token in clear is
a stolen token.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import grpc
import structlog

log = structlog.get_logger("zrc.tls")


class InsecureTransport(ValueError):
    """The client would send a token in clear to a remote host."""


class TLSConfigError(ValueError):
    """Unreadable certificate, key or CA file."""


def _read(path: str, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if b"-----BEGIN" not in data:
        raise TLSConfigError(f"the {what} {path} is not a PEM file")
    return data


def server_credentials(cert: str, key: str) -> grpc.ServerCredentials:
    """TLS credentials that re-read ``cert``/``key`` when either file changes."""

    def mtimes() -> tuple[float, float]:
        return os.stat(cert).st_mtime_ns, os.stat(key).st_mtime_ns

    def load():
        return grpc.ssl_server_certificate_configuration([(_read(key, "TLS key"), _read(cert, "TLS certificate"))])

    state = {"seen": mtimes()}
    initial = load()

    def fetch():
        try:
            now = mtimes()
            if now == state["seen"]:
                return None
            config = load()
        except (OSError, TLSConfigError) as exc:
            log.warning("tls_reload_failed", error=str(exc))
            return None  # keep serving the certificate already loaded
        state["seen"] = now
        log.info("tls_reloaded", cert=cert)
        return config

    return grpc.dynamic_ssl_server_credentials(initial, fetch, require_client_authentication=False)


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
        roots = _read(ca_file, "CA file (ZRC_CA_FILE)") if ca_file else None
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
