"""In-process stand-ins for the gRPC stubs the gateway's runner calls (no channel, no server)."""

from __future__ import annotations

import grpc

from zrc.core.jobs import JobConflict
from zrc.storage import NotFound


class FakeError(grpc.RpcError):
    """What a stub raises: a status code and its details."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(details)
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


# the statuses the results service's interceptor gives these errors (the runner reacts to these two)
_STATUS = ((NotFound, grpc.StatusCode.NOT_FOUND), (JobConflict, grpc.StatusCode.ABORTED))


class DirectStub:
    """A stub whose calls go straight to a servicer's methods: the service's own code over real storage,
    without a transport. Errors become the status codes a caller sees over the wire."""

    def __init__(self, servicer):
        self.servicer = servicer

    def __getattr__(self, name: str):
        method = getattr(self.servicer, name)

        def call(request, timeout=None):
            try:
                return method(request, None)
            except Exception as exc:
                for kind, code in _STATUS:
                    if isinstance(exc, kind):
                        raise FakeError(code, str(exc)) from exc
                raise
        return call
