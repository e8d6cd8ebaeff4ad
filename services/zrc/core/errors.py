"""The one error vocabulary of zrc: what went wrong, said once, without a transport.

Logic (core, storage, the gateway's auth/uploads/streams, the scorers) raises these; one server
interceptor (``zrc.common.runtime``) turns them into gRPC status codes and rich details, and the CLI
turns status codes into exit codes and sentences. So no logic module imports grpc, and a refusal reads
the same whichever service raised it.

``status`` names the canonical code as a string (this module imports no grpc). Rich details stay plain
data here: ``violations`` (field, description) become a ``google.rpc.BadRequest``, ``quota_subject`` a
``google.rpc.QuotaFailure``, ``retry_after`` (seconds) a ``google.rpc.RetryInfo``.
"""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """A refusal the caller can act on (never a bug: those surface as INTERNAL, the trace only in the log).

    Not ``zrc.ZrcError``: that one is what the Python API (``zrc.evaluate``) raises to its callers."""

    status = "UNKNOWN"

    def __init__(self, message: str = "", *args):
        super().__init__(message, *args)
        self.message = message

    def __str__(self) -> str:   # KeyError (NotFound's other base) would print the message quoted
        return self.message


class InvalidArgument(DomainError, ValueError):
    """The request itself is wrong (a malformed field, an invalid submission); ``violations`` say where."""

    status = "INVALID_ARGUMENT"

    def __init__(self, message: str = "", *args, violations: Sequence[tuple[str, str]] = ()):
        super().__init__(message, *args)
        self.violations = list(violations)


class NotFound(DomainError, KeyError):
    """The object, dataset, job or user does not exist (a KeyError too: lookups read like dict lookups)."""

    status = "NOT_FOUND"


class Unauthenticated(DomainError):
    """No valid credential (missing, malformed, revoked or expired token)."""

    status = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    """A valid caller asking for what is not theirs, or for an admin action."""

    status = "PERMISSION_DENIED"


class ResourceExhausted(DomainError):
    """A quota or a limit is reached; ``quota_subject`` names whose quota, ``retry_after`` when to come back."""

    status = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str = "", *args, quota_subject: str = "", retry_after: float | None = None):
        super().__init__(message, *args)
        self.quota_subject, self.retry_after = quota_subject, retry_after


class FailedPrecondition(DomainError):
    """The request is fine but the system is not in a state to answer it (a job not finished, an offset
    that does not match what the server holds): retrying as is will not help, doing something else will."""

    status = "FAILED_PRECONDITION"


class Conflict(DomainError):
    """A concurrent writer won (a conditional write lost): the caller may read again and retry."""

    status = "ABORTED"


class Unavailable(DomainError, RuntimeError):
    """A transient fault of a dependency (object storage down, timeout): retry later."""

    status = "UNAVAILABLE"
