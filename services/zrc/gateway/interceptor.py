"""The gateway's authentication interceptor: who calls, for every call but the public ones.

The rules (tokens, users, admins) are :class:`zrc.gateway.auth.Auth`, which knows no transport; this
module only reads the call's metadata and makes the identity available to handlers as
``zrc.gateway.auth.current``. A refusal is a domain error that the error interceptor maps.
"""

from __future__ import annotations

import grpc

from zrc.common.runtime import rewrap
from zrc.gateway.auth import PUBLIC_METHODS, Auth, current


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticates every call but the public ones; the identity is available to handlers as ``current``."""

    def __init__(self, auth: Auth):
        self.auth = auth

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(PUBLIC_METHODS):
            return handler
        auth = self.auth

        def unary(fn):
            def call(request, context):
                current.set(auth.authenticate(context.invocation_metadata()))
                return fn(request, context)
            return call

        def streaming(fn):
            def call(request, context):
                current.set(auth.authenticate(context.invocation_metadata()))
                yield from fn(request, context)
            return call

        return rewrap(handler, unary, streaming)
