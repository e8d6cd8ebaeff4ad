"""Every object key of the three buckets, built in one place.

The layout is data that outlives the code (a restored backup, an older store): keys never change shape
here without a migration. Functions that take a caller's value (a digest, a name, an id) check it first,
so no key is ever built from an unchecked string (InvalidArgument otherwise).

datasets     ``<name>/manifest.json``, ``<name>/files/<relative path>``
submissions  ``archives/<sha256>.zip``, ``derived/<sha256>/pooled-<hash>.npz`` (caches of an archive),
             ``uploads/<user>/<sha256>/<offset>-<length>`` (segments), ``staging/<user>/<sha256>.zip``
results      ``results/<key>.json.gz`` (older: ``.json``), ``jobs/<id>.json``, ``open/<id>`` (unfinished
             jobs), ``entries/<job id>.json``, ``leaderboards/<benchmark>/<entry id>.json``, ``auth/...``
             (see ``zrc.gateway.auth``)
"""

from __future__ import annotations

import re

from zrc.core.errors import InvalidArgument
from zrc.core.limits import quoted

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[0-9a-f]{16,64}$")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# prefixes that are listed or swept whole
ARCHIVES, UPLOADS, STAGING = "archives/", "uploads/", "staging/"
RESULT_CACHE, JOBS, OPEN = "results/", "jobs/", "open/"
USERS, TOKENS, AUDIT = "auth/users/", "auth/tokens/", "auth/audit/"


def digest(value: str) -> str:
    """``value`` if it is a sha256 in lowercase hex (archives are named by theirs)."""
    if not _SHA256.match(value or ""):
        raise InvalidArgument(f"not a sha256 digest: {quoted(value)}")
    return value


def ident(value: str, what: str) -> str:
    """``value`` if it is a job, entry or result id (16 to 64 hex digits)."""
    if not _ID.match(value or ""):
        raise InvalidArgument(f"invalid {what} {quoted(value)}")
    return value


def user_name(value: str) -> str:
    if not _USER.match(value or ""):
        raise InvalidArgument(f"invalid user name {value!r}")
    return value


# -- datasets bucket -------------------------------------------------------------------------------------
def dataset_prefix(name: str) -> str:
    if not name or "/" in name or name.startswith(".") or len(name) > 100:
        raise InvalidArgument(f"invalid dataset name {quoted(name)}")
    return f"{name}/"


def dataset_manifest(name: str) -> str:
    return f"{dataset_prefix(name)}manifest.json"


def dataset_digests(name: str) -> str:
    """The sha256 of each stored gold file, written at import before the manifest."""
    return f"{dataset_prefix(name)}sha256.json"


def is_dataset_manifest(key: str) -> bool:
    return key.endswith("/manifest.json") and key.count("/") == 1


def dataset_files(name: str) -> str:
    """The prefix under which an imported dataset's files keep their relative paths."""
    return f"{dataset_prefix(name)}files"


def dataset_file(name: str, rel: str) -> str:
    return f"{dataset_files(name)}/{rel}"


# -- submissions bucket ----------------------------------------------------------------------------------
def archive(sha256: str) -> str:
    return f"{ARCHIVES}{digest(sha256)}.zip"


def archive_digest(key: str) -> str:
    return key[len(ARCHIVES):].removesuffix(".zip")


def derived(sha256: str) -> str:
    """Prefix of what is derived from an archive (deleted with it)."""
    return f"derived/{digest(sha256)}/"


def pooled(sha256: str, blob_hash: str) -> str:
    return f"{derived(sha256)}pooled-{blob_hash}.npz"


_POOLED = re.compile(r"^derived/(?P<digest>[0-9a-f]{64})/pooled-[0-9a-f]{64}\.npz$")


def pooled_digest(key: str) -> str | None:
    """The archive whose pooled vectors ``key`` names (None if it names no pooled vectors): a reference a
    caller sends back is checked against it before anything is read."""
    m = _POOLED.match(key or "")
    return m["digest"] if m else None


def upload_prefix(user: str, sha256: str) -> str:
    return f"{UPLOADS}{user_name(user)}/{digest(sha256)}/"


def upload_segment(user: str, sha256: str, offset: int, length: int) -> str:
    return f"{upload_prefix(user, sha256)}{offset:016d}-{length:016d}"


def staging(user: str, sha256: str) -> str:
    return f"{STAGING}{user_name(user)}/{digest(sha256)}.zip"


# -- results bucket --------------------------------------------------------------------------------------
def result(key: str, legacy: bool = False) -> str:
    """A cached task result (compressed JSON; ``legacy``: the uncompressed ones stored before)."""
    if not _SHA256.match(key or ""):
        raise InvalidArgument(f"invalid result key {quoted(key)}")
    return f"{RESULT_CACHE}{key}.json{'' if legacy else '.gz'}"


def job(job_id: str) -> str:
    return f"{JOBS}{ident(job_id, 'job id')}.json"


def open_marker(job_id: str) -> str:
    return f"{OPEN}{ident(job_id, 'job id')}"


def entry(job_id: str) -> str:
    return f"entries/{ident(job_id, 'job id')}.json"


def leaderboard(benchmark: str) -> str:
    return f"leaderboards/{benchmark}/"


def leaderboard_entry(benchmark: str, entry_id: str) -> str:
    return f"{leaderboard(benchmark)}{ident(entry_id, 'entry id')}.json"


def user(name: str) -> str:
    return f"{USERS}{user_name(name)}.json"


def token(token_hash: str) -> str:
    return f"{TOKENS}{token_hash}.json"


def token_id(key: str) -> str:
    """The hash a token record is stored under (its id is a prefix of it)."""
    return key.removeprefix(TOKENS).removesuffix(".json")


def audit(day: str, stamp: str) -> str:
    return f"{AUDIT}{day}/{stamp}.json"


def model(model_id: str) -> str:
    return f"auth/models/{model_id}"


def owners(sha256: str) -> str:
    return f"auth/owners/{digest(sha256)}/"


def owner(sha256: str, user: str) -> str:
    return f"{owners(sha256)}{user_name(user)}"


def quota_slots(user: str, benchmark: str, day: str) -> str:
    return f"auth/quota/{user}/{benchmark}/{day}/"


def quota_slot(user: str, benchmark: str, day: str, n: int) -> str:
    return f"{quota_slots(user, benchmark, day)}slot-{n:04d}"


def attempts(user: str, benchmark: str, day: str) -> str:
    return f"auth/attempts/{user}/{benchmark}/{day}/"
