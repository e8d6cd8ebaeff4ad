"""In-process stand-ins for the gRPC stubs the gateway's runner calls (no channel, no server)."""

from __future__ import annotations

import grpc

from zrc.core.errors import DomainError


class FakeError(grpc.RpcError):
    """What a stub raises: a status code and its details."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(details)
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


class DirectStub:
    """A stub whose calls go straight to a servicer's methods: the service's own code over real storage,
    without a transport. Domain errors become the status code they carry, as the interceptor maps them."""

    def __init__(self, servicer):
        self.servicer = servicer

    def __getattr__(self, name: str):
        method = getattr(self.servicer, name)

        def call(request, timeout=None):
            try:
                return method(request, None)
            except DomainError as exc:
                raise FakeError(grpc.StatusCode[exc.status], str(exc)) from exc
        return call
