"""Unit tests of the gateway's auth/quota rules on local storage (no network)."""

from __future__ import annotations

import datetime as dt

import pytest

from zrc.core import jobs
from zrc.core.errors import ResourceExhausted, Unauthenticated
from zrc.gateway.auth import Auth, Identity, next_reset
from zrc.storage.local import LocalStorage


@pytest.fixture()
def auth(tmp_path):
    st = LocalStorage(tmp_path)
    st.ensure_buckets()
    clock = {"now": dt.datetime(2026, 11, 28, 23, 50, tzinfo=dt.UTC)}
    a = Auth(st, required=True, admin_token="a" * 20, quota_per_day=2, clock=lambda: clock["now"])
    a._clock = clock
    return a


def test_tokens_are_stored_hashed(auth, tmp_path):
    token = auth.create_token("ann")
    assert token.startswith("zrc_")
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert token.encode() not in stored
    assert auth.authenticate([("authorization", f"Bearer {token}")]) == Identity("ann", False)
    assert auth.authenticate([("authorization", "Bearer " + "a" * 20)]).admin


@pytest.mark.parametrize("header,why", [(None, "missing"), ("Basic abc", "Bearer"), ("Bearer nope", "invalid")])
def test_bad_credentials_are_unauthenticated(auth, header, why):
    with pytest.raises(Unauthenticated) as exc:
        auth.authenticate([("authorization", header)] if header else [])
    assert why in exc.value.message


def test_failed_and_invalid_jobs_do_not_count(auth):
    who = Identity("ann", False)
    states = {}
    for i, state in enumerate([jobs.FAILED, jobs.INVALID, jobs.SUCCEEDED, jobs.SCORING]):
        jid = f"{i:032x}"
        states[jid] = state
        auth.charge(who, "sLM21", jid, states.get)
    # FAILED (infrastructure) and INVALID are free: 2 counted, the limit is reached
    assert auth.quota_left(who, "sLM21", states.get) == 0
    with pytest.raises(ResourceExhausted) as exc:
        auth.charge(who, "sLM21", "f" * 32, states.get)
    assert exc.value.quota_subject == "user:ann/benchmark:sLM21"
    assert "2026-11-29T00:00:00Z" in exc.value.message
    assert auth.quota_left(who, "prosAudit", states.get) == 2
    assert auth.quota_left(Identity("root", True), "sLM21", states.get) == -1
    # ten minutes later it is another UTC day
    auth._clock["now"] += dt.timedelta(minutes=10)
    assert auth.quota_left(who, "sLM21", states.get) == 2


def test_invalid_evaluations_are_free_but_bounded(tmp_path):
    st = LocalStorage(tmp_path)
    st.ensure_buckets()
    a = Auth(st, required=True, admin_token="a" * 20, quota_per_day=0, invalid_per_day=2)
    who = Identity("bob", False)
    states = {}
    for i in range(2):
        jid = f"{i:032x}"
        a.charge(who, "sLM21", jid, states.get)
        states[jid] = jobs.INVALID
    with pytest.raises(ResourceExhausted) as exc:
        a.charge(who, "sLM21", "e" * 32, states.get)
    assert "ZRC_INVALID_PER_DAY=2" in exc.value.message and exc.value.quota_subject == "user:bob/benchmark:sLM21"
    a.charge(Identity("carol", False), "sLM21", "d" * 32, states.get)   # another user is not affected
    a.charge(Identity("root", True), "sLM21", "c" * 32, states.get)     # nor an admin


def test_next_reset_is_utc_midnight():
    t = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))  # 04:30 UTC, March 2
    assert next_reset(t) == "2026-03-03T00:00:00Z"
