"""Users, bearer tokens, ownership and daily quotas of the gateway.

Kept under ``auth/`` in the results bucket:

* ``auth/users/<name>.json``: {name, admin, created_at};
* ``auth/tokens/<sha256(token)>.json``: {user, created_at, revoked}: tokens are
  stored hashed, shown once at creation;
* ``auth/owners/<digest>/<user>``: who uploaded an archive (a user may evaluate
  only archives they uploaded; uploading the same bytes makes you an owner too);
* ``auth/quota/<user>/<benchmark>/<YYYY-MM-DD>/<job_id>``: evaluations per UTC day.

The bootstrap admin token comes from ``ZRC_ADMIN_TOKEN`` (never stored). With
``ZRC_AUTH=off`` (the embedded mode) every caller is the local admin.

Quota: at most ``ZRC_QUOTA_PER_DAY`` evaluations per user, benchmark and UTC
day (0 = unlimited; admins are exempt). Jobs that end FAILED (infrastructure)
or INVALID (nothing evaluated) do not count; queued and running ones do, so
a burst cannot overshoot.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2

from zrc.common.data import BadRequest
from zrc.common.runtime import Abort, rewrap
from zrc.core import jobs
from zrc.core.limits import quoted
from zrc.storage import RESULTS, NotFound, Storage

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PUBLIC_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.", "/zrc.gateway.v1.GatewayService/GetLeaderboard")


@dataclass(frozen=True)
class Identity:
    user: str
    admin: bool


LOCAL = Identity("local", True)
current: ContextVar[Identity] = ContextVar("zrc_identity", default=LOCAL)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def utc_day(now: _dt.datetime) -> str:
    return now.astimezone(_dt.UTC).strftime("%Y-%m-%d")


def next_reset(now: _dt.datetime) -> str:
    d = now.astimezone(_dt.UTC).date() + _dt.timedelta(days=1)
    return _dt.datetime(d.year, d.month, d.day, tzinfo=_dt.UTC).isoformat().replace("+00:00", "Z")


class Auth:
    def __init__(self, storage: Storage, *, required: bool, admin_token: str | None, quota_per_day: int,
                 clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.UTC), invalid_per_day: int = 0):
        self.storage = storage
        self.required = required
        self._admin_hash = _hash(admin_token) if admin_token else None
        self.quota_per_day = quota_per_day
        self.invalid_per_day = invalid_per_day   # invalid evaluations are free, but not unbounded
        self.clock = clock

    # -- identities ----------------------------------------------------------------------------------
    def authenticate(self, metadata) -> Identity:
        if not self.required:
            return LOCAL
        header = dict(metadata or ()).get("authorization", "")
        if not header:
            raise Abort(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token (zrc user:login, or ZRC_TOKEN)")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Abort(grpc.StatusCode.UNAUTHENTICATED, "authorization must be 'Bearer <token>'")
        h = _hash(token.strip())
        if self._admin_hash and hmac.compare_digest(h, self._admin_hash):
            return Identity("admin", True)
        try:
            rec = self.storage.get_json(RESULTS, f"auth/tokens/{h}.json")
        except NotFound:
            raise Abort(grpc.StatusCode.UNAUTHENTICATED, "invalid token") from None
        if rec.get("revoked"):
            raise Abort(grpc.StatusCode.UNAUTHENTICATED, "this token was revoked") from None
        user = self._user(rec["user"])
        return Identity(user["name"], bool(user.get("admin")))

    def _user(self, name: str) -> dict:
        try:
            return self.storage.get_json(RESULTS, f"auth/users/{name}.json")
        except NotFound:
            raise Abort(grpc.StatusCode.UNAUTHENTICATED, "the token's user no longer exists") from None

    @staticmethod
    def require_admin(who: Identity, what: str) -> None:
        if not who.admin:
            raise Abort(grpc.StatusCode.PERMISSION_DENIED, f"{what} needs an admin token")

    def create_user(self, name: str, admin: bool) -> None:
        if not _NAME.match(name or ""):
            raise BadRequest(f"invalid user name {quoted(name)}: letters, digits, '_', '.', '-' (max 64)")
        key = f"auth/users/{name}.json"
        if self.storage.exists(RESULTS, key):
            rec = self.storage.get_json(RESULTS, key)
            if admin and not rec.get("admin"):
                rec["admin"] = True
                self.storage.put_json(RESULTS, key, rec)
            return
        self.storage.put_json(RESULTS, key, {"name": name, "admin": admin, "created_at": jobs.now()})

    def create_token(self, user: str) -> str:
        self.create_user(user, False)
        token = "zrc_" + secrets.token_urlsafe(32)
        self.storage.put_json(RESULTS, f"auth/tokens/{_hash(token)}.json",
                              {"user": user, "created_at": jobs.now(), "revoked": False})
        return token

    def revoke(self, token: str) -> None:
        key = f"auth/tokens/{_hash(token.strip())}.json"
        try:
            rec = self.storage.get_json(RESULTS, key)
        except NotFound:
            raise NotFound("no such token") from None
        rec["revoked"] = True
        rec["revoked_at"] = jobs.now()
        self.storage.put_json(RESULTS, key, rec)

    # -- ownership -----------------------------------------------------------------------------------
    def add_owner(self, digest: str, who: Identity) -> None:
        self.storage.put_bytes(RESULTS, f"auth/owners/{digest}/{who.user}", b"")

    def check_owner(self, digest: str, who: Identity) -> None:
        if who.admin or self.storage.exists(RESULTS, f"auth/owners/{digest}/{who.user}"):
            return
        if self.storage.list(RESULTS, f"auth/owners/{digest}/"):
            raise Abort(grpc.StatusCode.PERMISSION_DENIED, "this submission belongs to another user")
        raise NotFound(f"submission {digest[:12]} was not uploaded")

    @staticmethod
    def check_job(job: jobs.Job, who: Identity) -> None:
        if not who.admin and job.owner != who.user:
            raise Abort(grpc.StatusCode.PERMISSION_DENIED, "this job belongs to another user")

    # -- quotas --------------------------------------------------------------------------------------
    def _used(self, who: Identity, benchmark: str, job_state: Callable[[str], str | None]) -> tuple[int, int]:
        """(evaluations counted, evaluations that ended INVALID) of ``who`` today."""
        prefix = f"auth/quota/{who.user}/{benchmark}/{utc_day(self.clock())}/"
        used = invalid = 0
        for key in self.storage.list(RESULTS, prefix):
            state = job_state(key[len(prefix):])
            if state == jobs.INVALID:
                invalid += 1
            elif state != jobs.FAILED:
                used += 1
        return used, invalid

    def quota_left(self, who: Identity, benchmark: str, job_state: Callable[[str], str | None]) -> int:
        """Evaluations left today (-1 = unlimited)."""
        if who.admin or self.quota_per_day <= 0:
            return -1
        return max(0, self.quota_per_day - self._used(who, benchmark, job_state)[0])

    def charge(self, who: Identity, benchmark: str, job_id: str, job_state: Callable[[str], str | None]) -> None:
        """Refuse with RESOURCE_EXHAUSTED (+ QuotaFailure, reset time) or record the evaluation.

        Invalid evaluations do not use the quota (a mistake should not cost a day), but past
        ``invalid_per_day`` of them a user is refused too: each one costs the validator everyone shares.
        """
        if who.admin or (self.quota_per_day <= 0 and self.invalid_per_day <= 0):
            return
        used, invalid = self._used(who, benchmark, job_state)
        resets = next_reset(self.clock())
        if self.invalid_per_day > 0 and invalid >= self.invalid_per_day:
            self._refuse(who, benchmark, f"{invalid} of your {benchmark} evaluations today were invalid (limit "
                         f"ZRC_INVALID_PER_DAY={self.invalid_per_day}); check submissions with `zrc "
                         f"submission:verify` first. The count resets at {resets} (UTC midnight).")
        if self.quota_per_day > 0 and used >= self.quota_per_day:
            self._refuse(who, benchmark, f"daily quota of {self.quota_per_day} evaluation(s) for {benchmark} "
                         f"reached; it resets at {resets} (UTC midnight). Failed or invalid evaluations do not count.")
        self.storage.put_bytes(RESULTS, f"auth/quota/{who.user}/{benchmark}/{utc_day(self.clock())}/{job_id}", b"")

    @staticmethod
    def _refuse(who: Identity, benchmark: str, msg: str) -> None:
        st = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=msg)
        st.details.add().Pack(error_details_pb2.QuotaFailure(violations=[
            error_details_pb2.QuotaFailure.Violation(subject=f"user:{who.user}/benchmark:{benchmark}",
                                                     description=msg)]))
        raise Abort(grpc.StatusCode.RESOURCE_EXHAUSTED, msg, rich=st)


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
