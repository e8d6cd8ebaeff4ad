"""Users, bearer tokens, ownership and daily quotas of the gateway.

Kept under ``auth/`` in the results bucket:

* ``auth/users/<name>.json``: {name, admin, created_at};
* ``auth/tokens/<sha256(token)>.json``: {user, created_at, revoked, expires_at,
  prefix}: tokens are stored hashed, shown once at creation; an admin sees a token
  as its id (the hash's first 12 hex digits) and its first characters, never whole;
* ``auth/audit/<YYYY-MM-DD>/<time>-<rand>.json``: every admin action (who, what, on what);
* ``auth/owners/<digest>/<user>``: who uploaded an archive. Ownership is proof of
  possession: only sending every byte of the archive (hashed by the gateway
  itself) makes you an owner. Knowing a digest (they are public on leaderboards)
  grants nothing: not the archive, not its jobs, not its per-pair scores; an admin
  may grant it (``GrantSubmission``, audited);
* ``auth/models/<model_id>``: the user who first published a ``model_id`` (claimed
  with a conditional write: one owner, whatever the races);
* ``auth/quota/<user>/<benchmark>/<YYYY-MM-DD>/slot-NNNN``: evaluations per UTC day
  (each slot holds a job id; taken with conditional writes, see ``charge``).

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
import json
import re
import secrets
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from zrc.core import jobs
from zrc.core.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from zrc.core.limits import quoted
from zrc.storage import RESULTS, PreconditionFailed, Storage, keys

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# Names a person could mistake for the service or its operators. The bootstrap admin is "admin": no stored
# user may carry that name (or any of these), so nobody shares its identity, jobs or entries.
RESERVED_NAMES = frozenset({"admin", "administrator", "root", "system", "zrc", "local", "superuser", "operator",
                            "anonymous", "nobody", "support", "staff", "zerospeech", "baseline"})
PUBLIC_METHODS = ("/grpc.health.v1.Health/", "/grpc.reflection.", "/zrc.gateway.v1.GatewayService/GetLeaderboard")


@dataclass(frozen=True)
class Identity:
    user: str
    admin: bool


LOCAL = Identity("local", True)
current: ContextVar[Identity] = ContextVar("zrc_identity", default=LOCAL)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _stamp(t: _dt.datetime) -> str:
    """ISO-8601 UTC to the second, "Z" suffix: such strings compare like the times they name."""
    return t.astimezone(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc_day(now: _dt.datetime) -> str:
    return now.astimezone(_dt.UTC).strftime("%Y-%m-%d")


def next_reset(now: _dt.datetime) -> str:
    d = now.astimezone(_dt.UTC).date() + _dt.timedelta(days=1)
    return _stamp(_dt.datetime(d.year, d.month, d.day, tzinfo=_dt.UTC))


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
            raise Unauthenticated("missing bearer token (zrc user:login, or ZRC_TOKEN)")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization must be 'Bearer <token>'")
        h = _hash(token.strip())
        if self._admin_hash and hmac.compare_digest(h, self._admin_hash):
            return Identity("admin", True)
        try:
            rec = self.storage.get_json(RESULTS, keys.token(h))
        except NotFound:
            raise Unauthenticated("invalid token") from None
        if rec.get("revoked"):
            raise Unauthenticated("this token was revoked") from None
        if rec.get("expires_at") and rec["expires_at"] <= _stamp(self.clock()):
            raise Unauthenticated(f"this token expired at {rec['expires_at']}") from None
        if rec["user"].lower() in RESERVED_NAMES:
            raise Unauthenticated(f"user name {rec['user']!r} is reserved") from None
        user = self._user(rec["user"])
        if user.get("disabled"):
            raise Unauthenticated(f"user {user['name']} is disabled (ask an admin)")
        return Identity(user["name"], bool(user.get("admin")))

    def _user(self, name: str) -> dict:
        try:
            return self.storage.get_json(RESULTS, keys.user(name))
        except NotFound:
            raise Unauthenticated("the token's user no longer exists") from None

    @staticmethod
    def require_admin(who: Identity, what: str) -> None:
        if not who.admin:
            raise PermissionDenied(f"{what} needs an admin token")

    def create_user(self, name: str, admin: bool) -> None:
        if not _NAME.match(name or ""):
            raise InvalidArgument(f"invalid user name {quoted(name)}: letters, digits, '_', '.', '-' (max 64)")
        if name.lower() in RESERVED_NAMES:
            raise InvalidArgument(f"user name {name!r} is reserved (reserved: {', '.join(sorted(RESERVED_NAMES))})")
        key = keys.user(name)
        if self.storage.exists(RESULTS, key):
            rec = self.storage.get_json(RESULTS, key)
            if admin and not rec.get("admin"):
                rec["admin"] = True
                self.storage.put_json(RESULTS, key, rec)
            return
        self.storage.put_json(RESULTS, key, {"name": name, "admin": admin, "created_at": jobs.now()})

    def create_token(self, user: str, expires_days: int = 0) -> str:
        return self.issue_token(user, expires_days)[0]

    def issue_token(self, user: str, expires_days: int = 0) -> tuple[str, str, str]:
        """(token, id, expires_at): the token is returned once and stored hashed."""
        if expires_days < 0 or expires_days > 3650:
            raise InvalidArgument(f"expires_days must be between 0 (never) and 3650, got {expires_days}")
        self.create_user(user, False)
        token = "zrc_" + secrets.token_urlsafe(32)
        expires = ""
        if expires_days:
            at = self.clock() + _dt.timedelta(days=expires_days)
            expires = _stamp(at)
        h = _hash(token)
        self.storage.put_json(RESULTS, keys.token(h),
                              {"user": user, "created_at": jobs.now(), "revoked": False, "expires_at": expires,
                               "prefix": token[:8]})
        return token, h[:12], expires

    def _revoke_key(self, key: str) -> bool:
        """Mark one token record revoked (If-Match: a concurrent update is retried, never lost)."""
        for _ in range(5):
            try:
                data, etag = self.storage.get_with_etag(RESULTS, key)
            except NotFound:
                return False
            rec = json.loads(data)
            if rec.get("revoked"):
                return False
            rec.update(revoked=True, revoked_at=jobs.now())
            try:
                self.storage.put_if_match(RESULTS, key, json.dumps(rec).encode(), etag)
                return True
            except PreconditionFailed:
                continue
        raise Conflict("the token record kept changing; try again")

    def revoke(self, token: str) -> None:
        key = keys.token(_hash(token.strip()))
        if not self.storage.exists(RESULTS, key):
            raise NotFound("no such token")
        self._revoke_key(key)

    def _token_keys(self) -> list[str]:
        return [k for k in self.storage.list(RESULTS, keys.TOKENS) if k.endswith(".json")]

    def revoke_tokens(self, *, token: str = "", token_id: str = "", user: str = "") -> int:
        """Revoke by the token itself, by its id (hash prefix), or every token of a user; how many were revoked."""
        if sum(map(bool, (token, token_id, user))) != 1:
            raise InvalidArgument("give exactly one of: the token, --id ID, --user USER")
        if token:
            key = keys.token(_hash(token.strip()))
            if not self.storage.exists(RESULTS, key):
                raise NotFound("no such token")
            return int(self._revoke_key(key))
        if token_id:
            if not re.fullmatch(r"[0-9a-f]{8,64}", token_id):
                raise InvalidArgument(f"a token id is 8 to 64 hex digits (see admin:tokens), got {token_id!r}")
            found = [k for k in self._token_keys() if keys.token_id(k).startswith(token_id)]
            if not found:
                raise NotFound(f"no token with id {token_id}")
            if len(found) > 1:
                raise InvalidArgument(f"id {token_id} matches {len(found)} tokens: give more digits")
            return int(self._revoke_key(found[0]))
        if not self.storage.exists(RESULTS, keys.user(user)):
            raise NotFound(f"no user {user}")
        return sum(self._revoke_key(k) for k, rec in self._token_records() if rec.get("user") == user)

    def _token_records(self) -> list[tuple[str, dict]]:
        out = []
        for key in self._token_keys():
            try:
                out.append((key, self.storage.get_json(RESULTS, key)))
            except NotFound:
                continue
        return out

    def list_tokens(self, user: str) -> list[dict]:
        """A user's tokens as id + prefix + dates (never the token or its full hash)."""
        if not self.storage.exists(RESULTS, keys.user(user)):
            raise NotFound(f"no user {user}")
        out = [{"id": keys.token_id(k)[:12], "prefix": rec.get("prefix", ""), "user": rec["user"],
                "created_at": rec.get("created_at", ""), "expires_at": rec.get("expires_at", ""),
                "revoked": bool(rec.get("revoked"))}
               for k, rec in self._token_records() if rec.get("user") == user]
        return sorted(out, key=lambda t: t["created_at"])

    def list_users(self) -> list[dict]:
        out = []
        for key in self.storage.list(RESULTS, keys.USERS):
            try:
                u = self.storage.get_json(RESULTS, key)
            except NotFound:
                continue
            out.append({"name": u["name"], "admin": bool(u.get("admin")), "disabled": bool(u.get("disabled")),
                        "created_at": u.get("created_at", "")})
        return sorted(out, key=lambda u: u["name"])

    def set_disabled(self, name: str, disabled: bool) -> None:
        key = keys.user(name)
        try:
            rec = self.storage.get_json(RESULTS, key)
        except NotFound:
            raise NotFound(f"no user {name}") from None
        rec["disabled"] = disabled
        self.storage.put_json(RESULTS, key, rec)

    # -- audit ---------------------------------------------------------------------------------------
    def audit(self, who: Identity, action: str, target: str = "", detail: str = "") -> None:
        """Record an admin action (never a secret) under auth/audit/<day>/, one object each (no lost appends)."""
        now = self.clock().astimezone(_dt.UTC)
        key = keys.audit(utc_day(now), f"{now:%H%M%S%f}-{secrets.token_hex(4)}")
        self.storage.put_json(RESULTS, key, {"at": _stamp(now),
                                             "actor": who.user, "action": action, "target": target,
                                             "detail": detail})

    def list_audit(self, limit: int = 100) -> list[dict]:
        recent = self.storage.list(RESULTS, keys.AUDIT)[-max(1, min(limit or 100, 10_000)):]
        out = []
        for key in recent:
            try:
                out.append(self.storage.get_json(RESULTS, key))
            except NotFound:
                continue
        return out

    # -- model ids -----------------------------------------------------------------------------------
    def claim_model(self, model_id: str, user: str) -> str | None:
        """Claim ``model_id`` for ``user``: None if it is (now) theirs, else why not."""
        if not _MODEL_ID.match(model_id):
            return f"model_id {model_id!r} must be letters, digits, '_', '.', '-' (max 128)"
        key = keys.model(model_id)
        if self.storage.put_if_absent(RESULTS, key, user.encode()):
            return None
        holder = self.storage.get_bytes(RESULTS, key).decode()
        return None if holder == user else f"model_id {model_id!r} belongs to another user"

    # -- ownership -----------------------------------------------------------------------------------
    def add_owner(self, digest: str, who: Identity) -> None:
        self.storage.put_bytes(RESULTS, keys.owner(digest, who.user), b"")

    def grant(self, digest: str, user: str) -> None:
        """An admin's grant: ``user`` (who must exist) becomes an owner without sending the bytes."""
        if not self.storage.exists(RESULTS, keys.user(user)):
            raise NotFound(f"no user {user}")
        self.storage.put_bytes(RESULTS, keys.owner(digest, user), b"")

    def owns(self, digest: str, who: Identity) -> bool:
        return who.admin or self.storage.exists(RESULTS, keys.owner(digest, who.user))

    def check_owner(self, digest: str, who: Identity) -> None:
        if self.owns(digest, who):
            return
        if self.storage.list(RESULTS, keys.owners(digest)):
            raise PermissionDenied("this submission belongs to another user")
        raise NotFound(f"submission {digest[:12]} was not uploaded")

    @staticmethod
    def check_job(job: jobs.Job, who: Identity) -> None:
        if not who.admin and job.owner != who.user:
            raise PermissionDenied("this job belongs to another user")

    # -- quotas --------------------------------------------------------------------------------------
    # A user's evaluations of one benchmark on one UTC day are slots ``slot-0000``, ``slot-0001``, ...
    # holding a job id. A slot is taken with a conditional write (create if absent, or replace a slot whose
    # job ended FAILED/INVALID if its ETag is unchanged), so N concurrent Evaluate calls against a quota
    # of Q accept exactly min(N, Q): no read-count-then-write window.
    def _slots(self, who: Identity, benchmark: str) -> str:
        return keys.quota_slots(who.user, benchmark, utc_day(self.clock()))

    def _invalid_today(self, who: Identity, benchmark: str, job_state: Callable[[str], str | None]) -> int:
        """Evaluations of ``who`` today that ended INVALID (each one recorded at Evaluate under attempts/)."""
        prefix = keys.attempts(who.user, benchmark, utc_day(self.clock()))
        return sum(1 for key in self.storage.list(RESULTS, prefix) if job_state(key[len(prefix):]) == jobs.INVALID)

    def quota_left(self, who: Identity, benchmark: str, job_state: Callable[[str], str | None]) -> int:
        """Evaluations left today (-1 = unlimited)."""
        if who.admin or self.quota_per_day <= 0:
            return -1
        prefix = self._slots(who, benchmark)
        used = 0
        for key in self.storage.list(RESULTS, prefix):
            try:
                job_id = self.storage.get_bytes(RESULTS, key).decode()
            except NotFound:
                continue
            if job_state(job_id) not in (jobs.FAILED, jobs.INVALID):
                used += 1
        return max(0, self.quota_per_day - used)

    def _exhausted(self, who: Identity, benchmark: str) -> ResourceExhausted:
        return _quota_failure(who, benchmark, (
            f"daily quota of {self.quota_per_day} evaluation(s) for {benchmark} reached; it resets at "
            f"{next_reset(self.clock())} (UTC midnight). Failed or invalid evaluations do not count."))

    def charge(self, who: Identity, benchmark: str, job_id: str, job_state: Callable[[str], str | None]) -> None:
        """Take a quota slot for ``job_id`` atomically, or refuse with RESOURCE_EXHAUSTED (+ QuotaFailure).

        Invalid evaluations do not use the quota (their slot is freed: a mistake should not cost a day), but
        past ``invalid_per_day`` of them a user is refused too: each one costs the validator everyone shares.
        """
        if who.admin:
            return
        if self.invalid_per_day > 0:
            invalid = self._invalid_today(who, benchmark, job_state)
            if invalid >= self.invalid_per_day:
                raise _quota_failure(who, benchmark, f"{invalid} of your {benchmark} evaluations today were invalid (limit "
                             f"ZRC_INVALID_PER_DAY={self.invalid_per_day}); check submissions with `zrc "
                             f"submission:verify` first. The count resets at {next_reset(self.clock())} (UTC "
                             "midnight).")
        if self.quota_per_day > 0:
            self._take_slot(who, benchmark, job_id, job_state)
        if self.invalid_per_day > 0:
            self.storage.put_bytes(RESULTS, keys.attempts(who.user, benchmark, utc_day(self.clock())) + job_id, b"")

    def _take_slot(self, who: Identity, benchmark: str, job_id: str, job_state: Callable[[str], str | None]) -> None:
        day = utc_day(self.clock())
        active = 0
        n = 0
        while active < self.quota_per_day:   # each turn takes a slot (and returns) or counts one more active
            key = keys.quota_slot(who.user, benchmark, day, n)
            n += 1
            if self.storage.put_if_absent(RESULTS, key, job_id.encode()):
                return
            try:
                holder, etag = self.storage.get_with_etag(RESULTS, key)
            except NotFound:   # deleted in between (an operator): take the next one
                continue
            if job_state(holder.decode()) in (jobs.FAILED, jobs.INVALID):
                try:
                    self.storage.put_if_match(RESULTS, key, job_id.encode(), etag)
                    return
                except PreconditionFailed:
                    pass   # another request took this freed slot first
            active += 1
        raise self._exhausted(who, benchmark)


def _quota_failure(who: Identity, benchmark: str, msg: str) -> ResourceExhausted:
    """RESOURCE_EXHAUSTED with a QuotaFailure naming whose quota (the client shows when it resets)."""
    return ResourceExhausted(msg, quota_subject=f"user:{who.user}/benchmark:{benchmark}")
