"""Authentication of the calls between services (gateway -> validation, scorers, results).

Only the gateway is public, but a network policy is not a credential: anyone who
reaches an internal port (a compose network, a node, the local stack) could
otherwise publish leaderboard entries or plant jobs. So every internal call
carries a per-deployment secret in the ``x-zrc-internal`` metadata header; the
internal services hold only its sha256 (``ZRC_INTERNAL_TOKEN_SHA256``), the
gateway holds the token (``ZRC_INTERNAL_TOKEN``). One interceptor checks it in
constant time and answers UNAUTHENTICATED without it. Health and reflection stay
open so that probes need no secret. This module is interceptors only (the server
one and the gateway's client one), hence its grpc import.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import grpc

from zrc.common.runtime import ConfigError, rewrap
from zrc.core.errors import Unauthenticated

HEADER = "x-zrc-internal"
OPEN_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_SHA = re.compile(r"^[0-9a-f]{64}$")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def server_interceptor(env: dict[str, str]) -> InternalAuthInterceptor:
    """The interceptor of an internal service, from ZRC_INTERNAL_TOKEN_SHA256 (exit 2 if missing or malformed)."""
    digest = (env.get("ZRC_INTERNAL_TOKEN_SHA256") or "").strip().lower()
    if not _SHA.match(digest):
        raise ConfigError("ZRC_INTERNAL_TOKEN_SHA256 must be the sha256 (64 hex digits) of the gateway's "
                          "ZRC_INTERNAL_TOKEN: internal services refuse calls without it")
    return InternalAuthInterceptor(digest)


def gateway_token(env: dict[str, str]) -> str:
    token = env.get("ZRC_INTERNAL_TOKEN") or ""
    if len(token) < 16:
        raise ConfigError("ZRC_INTERNAL_TOKEN (at least 16 characters) is required: the gateway authenticates "
                          "to the internal services with it")
    return token


class InternalAuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, expected_sha256: str):
        self.expected = expected_sha256

    def _allowed(self, metadata) -> bool:
        given = dict(metadata or ()).get(HEADER)
        if not given:
            return False
        return hmac.compare_digest(token_sha256(given), self.expected)

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if (handler is None or handler_call_details.method.startswith(OPEN_METHODS)
                or self._allowed(handler_call_details.invocation_metadata)):
            return handler
        message = "internal service: only the gateway may call it (missing or wrong internal credential)"

        def unary(_fn):
            def deny(request, context):
                raise Unauthenticated(message)  # mapped by the ErrorInterceptor
            return deny

        def streaming(_fn):
            def deny(request, context):
                raise Unauthenticated(message)
                yield  # pragma: no cover - a generator, like the handler it replaces
            return deny

        return rewrap(handler, unary, streaming)


class _WithMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                    grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds the internal credential to every call of a channel."""

    def __init__(self, token: str):
        self.pair = (HEADER, token)

    def _details(self, d):
        return _Details(d.method, d.timeout, [*(d.metadata or ()), self.pair], d.credentials,
                        getattr(d, "wait_for_ready", None), getattr(d, "compression", None))

    def intercept_unary_unary(self, continuation, d, request):
        return continuation(self._details(d), request)

    def intercept_unary_stream(self, continuation, d, request):
        return continuation(self._details(d), request)

    def intercept_stream_unary(self, continuation, d, request_iterator):
        return continuation(self._details(d), request_iterator)

    def intercept_stream_stream(self, continuation, d, request_iterator):
        return continuation(self._details(d), request_iterator)


class _Details(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method, self.timeout, self.metadata = method, timeout, metadata
        self.credentials, self.wait_for_ready, self.compression = credentials, wait_for_ready, compression


def authenticated(channel: grpc.Channel, token: str | None) -> grpc.Channel:
    """``channel`` sending the internal credential (unchanged without a token)."""
    return grpc.intercept_channel(channel, _WithMetadata(token)) if token else channel
