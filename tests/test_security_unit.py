"""Trust boundaries without a network: ownership by possession, identity from the token, neutralised exports."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile

import grpc
import pytest

from zrc.app.jobs import Publisher
from zrc.core.errors import FailedPrecondition, InvalidArgument, ResourceExhausted, Unauthenticated
from zrc.gateway.auth import Auth
from zrc.gateway.uploads import Uploads
from zrc.pb.gateway.v1 import gateway_pb2
from zrc.storage import RESULTS
from zrc.storage.local import LocalStorage


@pytest.fixture()
def storage(tmp_path):
    st = LocalStorage(tmp_path)
    st.ensure_buckets()
    return st


@pytest.fixture()
def auth(storage):
    return Auth(storage, required=True, admin_token="a" * 20, quota_per_day=0)


def _zip_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("meta.yaml", text)
    return buf.getvalue()


def _stream(data: bytes, *, offset: int = 0, size: int | None = None, chunk: int = 7):
    meta = gateway_pb2.UploadMetadata(sha256=hashlib.sha256(data).hexdigest(), size=size or len(data), offset=offset)
    return meta, [gateway_pb2.UploadSubmissionRequest(chunk=data[i:i + chunk]) for i in range(offset, len(data), chunk)]


def test_only_the_whole_archive_proves_possession(storage):
    up = Uploads(storage)
    data = _zip_bytes("username: alice\n")
    meta, chunks = _stream(data)
    held, sha = up.receive(meta, chunks, "alice")
    up.finish(meta.sha256, meta.size, sha, "alice")
    assert up.stored(meta.sha256)
    up.verify(meta, iter(chunks))  # the same bytes: accepted
    with pytest.raises(InvalidArgument, match="not the archive"):
        up.verify(meta, iter([]))  # metadata only: the digest is public, it proves nothing
    with pytest.raises(InvalidArgument, match="not the archive"):
        up.verify(meta, iter(chunks[:-1]))
    forged = bytearray(data)
    forged[3] ^= 1
    with pytest.raises(InvalidArgument, match="not the archive"):
        up.verify(meta, iter(_stream(bytes(forged))[1]))
    with pytest.raises(InvalidArgument, match="from offset 0"):
        up.verify(gateway_pb2.UploadMetadata(sha256=meta.sha256, size=meta.size, offset=5), iter(chunks))


def test_partial_uploads_are_private_to_their_sender(storage):
    up = Uploads(storage)
    data = _zip_bytes("x" * 100)
    meta, chunks = _stream(data)
    held, _ = up.receive(meta, chunks[:3], "alice")
    assert held == 21 and up.committed(meta.sha256, "alice") == 21
    assert up.committed(meta.sha256, "bob") == 0, "bob cannot resume (and finish) from alice's bytes"
    with pytest.raises(FailedPrecondition):
        up.receive(gateway_pb2.UploadMetadata(sha256=meta.sha256, size=meta.size, offset=21), chunks[3:], "bob")


def test_reserved_names_cannot_be_users(auth, storage):
    for name in ("admin", "Root", "system", "zrc"):
        with pytest.raises(InvalidArgument, match="reserved"):
            auth.create_user(name, False)
        with pytest.raises(InvalidArgument, match="reserved"):
            auth.create_token(name)
    # a record planted before names were reserved still cannot pass for the bootstrap admin
    storage.put_json(RESULTS, "auth/users/admin.json", {"name": "admin", "admin": False})
    storage.put_json(RESULTS, f"auth/tokens/{hashlib.sha256(b'zrc_planted').hexdigest()}.json",
                     {"user": "admin", "revoked": False})
    with pytest.raises(Unauthenticated, match="reserved"):
        auth.authenticate([("authorization", "Bearer zrc_planted")])
    assert auth.authenticate([("authorization", "Bearer " + "a" * 20)]).admin


def test_a_model_id_belongs_to_its_first_user(auth, storage):
    assert auth.claim_model("wav2vec-small", "alice") is None
    assert auth.claim_model("wav2vec-small", "alice") is None, "claiming it again is harmless"
    assert "another user" in auth.claim_model("wav2vec-small", "bob")
    assert storage.get_bytes(RESULTS, "auth/models/wav2vec-small") == b"alice"
    assert "must be" in auth.claim_model("../x", "bob")


def _publisher(auth) -> Publisher:
    p = Publisher(None)
    p.enforce_identity, p.claim_model = True, auth.claim_model
    return p


def test_meta_username_must_be_the_token_user(auth):
    from zrc.core import jobs
    r = _publisher(auth)
    job = jobs.Job.new({}, False, owner="alice", publish=True)
    assert r.identity_findings(job, {"username": "alice"}) == []
    (f,) = r.identity_findings(job, {"username": "bob"})
    assert f["code"] == "meta_username_mismatch" and f["severity"] == "error" and "alice" in f["message"]
    baseline = jobs.Job.new({}, False, owner="admin", publish=True, baseline=True)
    assert r.identity_findings(baseline, {"username": "topline-authors"}) == [], "an admin's baseline"
    meta = {"username": "bob", "model_info": {"model_id": "m-1"}}
    assert r.identity_findings(jobs.Job.new({}, False, owner="bob", publish=True), meta) == []
    codes = [f["code"] for f in r.identity_findings(job, {**meta, "username": "alice"})]
    assert codes == ["meta_model_id_taken"]
    rescore = jobs.Job.new({}, False, owner="alice", publish=True, replaces_entry="e" * 32)
    assert r.identity_findings(rescore, {"username": "legacy-name"}) == [], "re-scoring keeps the entry"
    r.enforce_identity = False  # the embedded mode: one local user, nothing to enforce
    assert r.identity_findings(job, {"username": "bob"}) == []


def test_csv_cells_cannot_be_formulas():
    from zrc.cli.export import cell, leaderboard_csv
    none = {"score": None}
    entry = {"publication": {"author_short": '=HYPERLINK("http://evil","x")'}, "model_id": "+cmd|' /C calc'!A0",
             "submission_id": "@SUM(1)", "scores": {"lexical": {"dev": none, "test": none},
                                                    "protosyntax": {"dev": none, "test": none}}}
    rows = list(csv.reader(io.StringIO(leaderboard_csv("prosAudit", [entry]))))
    assert rows[1][1:4] == ["'" + entry["publication"]["author_short"], "'" + entry["model_id"], "'@SUM(1)"]
    assert [cell(v) for v in ("-2", "\tx", "\rx", "ok", None)] == ["'-2", "'\tx", "'\rx", "ok", ""]


def test_tables_show_user_text_not_markup(monkeypatch):
    from rich.console import Console

    from zrc.cli import output
    buf = io.StringIO()
    terminal = Console(file=buf, width=250, color_system=None, force_terminal=True)
    monkeypatch.setattr(output, "_console", lambda stderr=False: terminal)   # rich tables are for terminals
    none = {"score": 0.5}
    entry = {"publication": {"author_short": "[link=http://evil]click[/link]"}, "model_id": "[bold]m[/bold]",
             "scores": {"lexical": {"dev": none, "test": none}, "protosyntax": {"dev": none, "test": none}}}
    output.leaderboard("prosAudit", [entry])
    assert "[link=http://evil]click[/link]" in buf.getvalue() and "[bold]m[/bold]" in buf.getvalue()


def test_sixty_concurrent_evaluations_take_exactly_the_quota(storage):
    from concurrent.futures import ThreadPoolExecutor

    from zrc.core import jobs
    from zrc.gateway.auth import Identity
    auth = Auth(storage, required=True, admin_token="a" * 20, quota_per_day=20)
    who = Identity("ann", False)
    states: dict[str, str] = {"0" * 32: jobs.FAILED}
    auth.charge(who, "sLM21", "0" * 32, states.get)   # a failed job: its slot is free again

    def evaluate(i: int) -> bool:
        try:
            auth.charge(who, "sLM21", f"{i + 1:032x}", states.get)
            return True
        except ResourceExhausted:
            return False

    with ThreadPoolExecutor(30) as pool:
        accepted = sum(pool.map(evaluate, range(60)))
    assert accepted == 20
    assert auth.quota_left(who, "sLM21", states.get) == 0
    assert len(storage.list(RESULTS, "auth/quota/ann/sLM21/")) == 20, "the failed job's slot was reused"


def test_token_administration(auth, storage):
    import datetime as dt

    from zrc.storage import NotFound
    now = {"t": dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)}
    auth.clock = lambda: now["t"]
    t1, id1, never = auth.issue_token("ann")
    t2, id2, expires = auth.issue_token("ann", expires_days=7)
    t3 = auth.create_token("bob")
    assert never == "" and expires == "2026-12-08T12:00:00Z"
    listed = auth.list_tokens("ann")
    assert {t["id"] for t in listed} == {id1, id2} and all(t["prefix"] == "zrc_" + t["prefix"][4:8] for t in listed)
    text = repr(listed) + repr(auth.list_users())
    assert t1 not in text and t1[8:] not in text and hashlib.sha256(t1.encode()).hexdigest() not in text
    # revoke by id, then every token of a user
    assert auth.revoke_tokens(token_id=id1) == 1
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate([("authorization", f"Bearer {t1}")])
    assert auth.revoke_tokens(user="ann") == 1, "the other one; the revoked one is not counted twice"
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate([("authorization", f"Bearer {t2}")])
    with pytest.raises(InvalidArgument, match="exactly one"):
        auth.revoke_tokens(token=t3, user="bob")
    with pytest.raises(NotFound):
        auth.revoke_tokens(user="nobody-here")
    # disable / enable
    auth.set_disabled("bob", True)
    with pytest.raises(Unauthenticated, match="disabled"):
        auth.authenticate([("authorization", f"Bearer {t3}")])
    auth.set_disabled("bob", False)
    assert auth.authenticate([("authorization", f"Bearer {t3}")]).user == "bob"
    # expiry
    t4 = auth.create_token("bob", expires_days=1)
    assert auth.authenticate([("authorization", f"Bearer {t4}")]).user == "bob"
    now["t"] += dt.timedelta(days=1, seconds=1)
    with pytest.raises(Unauthenticated, match="expired"):
        auth.authenticate([("authorization", f"Bearer {t4}")])


def test_admin_actions_are_audited(auth):
    from zrc.gateway.auth import Identity
    root = Identity("admin", True)
    auth.audit(root, "token-create", "ann", "id abc")
    auth.audit(root, "user-disable", "bob")
    records = auth.list_audit()
    assert [(r["actor"], r["action"], r["target"]) for r in records] == [("admin", "token-create", "ann"),
                                                                         ("admin", "user-disable", "bob")]
    assert auth.list_audit(limit=1)[0]["action"] == "user-disable"


def test_meta_text_is_plain_text_and_urls_are_urls():
    from zrc.core.meta import check_meta
    base = {"username": "ann", "benchmark_name": "sLM21", "open_source": True, "code_url": "https://example.org/m",
            "model_info": {"system_description": "d", "train_set": "t", "gpu_budget": "1"},
            "publication": {"authors": "A. B", "institution": "I", "publication_year": 2024,
                            "author_label": "B <i>et al.</i>", "paper_title": "T",
                            "paper_url": "https://arxiv.org/abs/1"}}
    assert [x.code for x in check_meta(base, benchmark="sLM21", strict=True).items if x.severity == "error"] == []
    bad = {**base, "code_url": 'https://x.org/"><script>alert(1)</script>',
           "publication": {**base["publication"], "authors": "A. B<img src=x onerror=alert(1)>"}}
    errors = [(x.code, x.message.split(":")[0]) for x in check_meta(bad, benchmark="sLM21", strict=True).items
              if x.severity == "error"]
    assert ("meta_url", "code_url must be an http(s) URL (no quotes, spaces or <>), found 'https") in errors
    assert ("meta_markup", "publication.authors") in errors and ("meta_markup", "code_url") in errors


def test_a_lost_conditional_write_is_aborted_not_internal():
    from zrc.common.runtime import _status_of
    from zrc.storage import PreconditionFailed
    code, message = _status_of(PreconditionFailed("results/auth/tokens/x.json changed"))
    assert code == grpc.StatusCode.ABORTED and "try again" in message
