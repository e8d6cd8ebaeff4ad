"""Integration: users, tokens, quotas, resumable uploads, submit and leaderboards over the multi-process stack."""

from __future__ import annotations

import hashlib
import shutil
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from zrc.client import build_archive
from zrc.core.dataset import load_dataset
from zrc.core.leaderboard import build_entry
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree
from zrc.pb.common.v1 import common_pb2
from zrc.pb.gateway.v1 import gateway_pb2
from zrc.stack import read_env
from zrc.storage import RESULTS, SUBMISSIONS
from zrc.storage.s3 import S3Storage

from .conftest import running_stack

pytestmark = pytest.mark.timeout(300)
QUOTA = 2
OK = gateway_pb2.JOB_STATE_SUCCEEDED


@pytest.fixture(scope="module")
def stack(tmp_path_factory, slm21_case, prosaudit_case):
    env = {"ZRC_QUOTA_PER_DAY": str(QUOTA), "ZRC_JOB_LEASE_SECONDS": "3", "ZRC_REAP_SECONDS": "1"}
    with running_stack(tmp_path_factory.mktemp("authstack"), env, slm21_case, prosaudit_case) as st:
        yield st


@pytest.fixture(scope="module")
def admin(stack):
    with stack.client(token=stack.admin_token) as c:
        yield c


def user_client(stack, admin, name):
    return stack.client(token=admin.create_token(name))


def fresh(sub, tmp_path, tag=""):
    dest = tmp_path / f"sub-{time.monotonic_ns()}"
    shutil.copytree(sub, dest)
    (dest / "notes.md").write_text(f"{tag} {time.time_ns()}\n")
    return dest


def code_of(fn) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as exc:
        fn()
    return exc.value.code()


def test_tokens_refused_with_the_right_codes(stack, admin):
    with stack.client() as anon:
        assert code_of(anon.list_datasets) == grpc.StatusCode.UNAUTHENTICATED
        assert isinstance(anon.leaderboard("sLM21"), list), "leaderboards are public"
    with stack.client(token="zrc_not-a-real-token") as bad:
        assert code_of(bad.list_datasets) == grpc.StatusCode.UNAUTHENTICATED
    token = admin.create_token("alice")
    with stack.client(token=token) as alice:
        assert alice.whoami().user == "alice" and not alice.whoami().admin
        assert code_of(lambda: alice.create_token("mallory")) == grpc.StatusCode.PERMISSION_DENIED
        assert code_of(lambda: alice.rescore("sLM21")) == grpc.StatusCode.PERMISSION_DENIED
        admin.revoke_token(token)
        with pytest.raises(grpc.RpcError) as exc:
            alice.list_datasets()
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED and "revoked" in exc.value.details()


def test_users_cannot_see_each_others_submissions(stack, admin, slm21_case, tmp_path):
    with user_client(stack, admin, "bob") as bob, user_client(stack, admin, "carol") as carol:
        up = bob.upload_folder(fresh(slm21_case[1], tmp_path, "bob"))
        job_id = bob.evaluate(up.digest, "sLM21", sets=["dev"], tasks=["lexical"])
        assert bob.wait(job_id).state == gateway_pb2.JOB_STATE_SUCCEEDED
        assert code_of(lambda: carol.get_job(job_id)) == grpc.StatusCode.PERMISSION_DENIED
        assert code_of(lambda: carol.get_scores(job_id)) == grpc.StatusCode.PERMISSION_DENIED
        assert code_of(lambda: list(carol.watch(job_id))) == grpc.StatusCode.PERMISSION_DENIED
        assert code_of(lambda: carol.evaluate(up.digest, "sLM21")) == grpc.StatusCode.PERMISSION_DENIED
        assert job_id not in {j.job_id for j in carol.list_jobs()}
        assert job_id in {j.job_id for j in bob.list_jobs()}
        assert admin.get_job(job_id).owner == "bob"


def test_quota_exhaustion_and_reset(stack, admin, slm21_case, tmp_path):
    with user_client(stack, admin, "dave") as dave:
        bad = fresh(slm21_case[1], tmp_path, "bad")
        (bad / "lexical/dev.txt").write_text("nonsense\n")
        up = dave.upload_folder(bad)
        invalid = dave.wait(dave.evaluate(up.digest, "sLM21", sets=["dev"], tasks=["lexical"]))
        assert invalid.state == gateway_pb2.JOB_STATE_INVALID
        assert dave.whoami().quota_left["sLM21"] == QUOTA, "an invalid evaluation does not count"
        good = dave.upload_folder(fresh(slm21_case[1], tmp_path, "good"))
        for _ in range(QUOTA):
            assert dave.wait(dave.evaluate(good.digest, "sLM21", sets=["dev"], tasks=["lexical"])).state == OK
        with pytest.raises(grpc.RpcError) as exc:
            dave.evaluate(good.digest, "sLM21", sets=["dev"], tasks=["lexical"])
        assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "resets at" in exc.value.details() and "T00:00:00Z" in exc.value.details()
        detail = error_details_pb2.QuotaFailure()
        rpc_status.from_call(exc.value).details[0].Unpack(detail)
        assert detail.violations[0].subject == "user:dave/benchmark:sLM21"
        assert dave.whoami().quota_left["prosAudit"] == QUOTA, "each benchmark has its own quota"
        # the next UTC day: yesterday's evaluations no longer count
        s3 = S3Storage(stack.s3["endpoint"], stack.s3["access_key"], stack.s3["secret_key"])
        for key in s3.list(RESULTS, "auth/quota/dave/sLM21/"):
            parts = key.split("/")
            parts[4] = "2000-01-01"
            s3.put_bytes(RESULTS, "/".join(parts), b"")
            s3.delete(RESULTS, key)
        assert dave.whoami().quota_left["sLM21"] == QUOTA
        assert dave.wait(dave.evaluate(good.digest, "sLM21", sets=["dev"], tasks=["lexical"])).state == OK


def test_interrupted_upload_resumes_without_resending(stack, admin, slm21_case, tmp_path):
    archive = tmp_path / "sub.zip"
    build_archive(fresh(slm21_case[1], tmp_path, "resume"), archive)
    size = archive.stat().st_size
    with user_client(stack, admin, "erin") as erin:
        with pytest.raises(grpc.RpcError):
            erin.upload_archive(archive, limit=size // 2, chunk=16 << 10)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        held = 0
        for _ in range(50):  # the server flushes what it received once the stream is gone
            state = erin.get_upload(digest)
            if state.committed > 0:
                held = state.committed
                break
            time.sleep(0.1)
        assert not state.stored and 0 < held <= size // 2
        sent = []
        r = erin.upload_archive(archive, on_bytes=sent.append)
        assert r.created and r.digest == digest
        assert sent[0] == held and sum(sent[1:]) == size - held, "only the missing bytes were sent"
        assert erin.get_upload(digest).stored
        again = []
        assert not erin.upload_archive(archive, on_bytes=again.append).created
        assert again == [size], "a stored archive is not sent again"


def test_published_entry_has_the_cores_aggregates(stack, admin, slm21_case, tmp_path):
    dataset_dir, sub = slm21_case
    sub = fresh(sub, tmp_path, "frank")
    (sub / "meta.yaml").write_text((sub / "meta.yaml").read_text().replace("username: demo", "username: frank"))
    with user_client(stack, admin, "frank") as frank:
        up = frank.upload_folder(sub)
        job = frank.wait(frank.evaluate(up.digest, "sLM21", publish=True))
        assert job.state == gateway_pb2.JOB_STATE_SUCCEEDED and job.model_id
        board = frank.leaderboard("sLM21")
    (entry,) = [e for e in board if e["zrc"]["job_id"] == job.job_id]
    ds = load_dataset(str(dataset_dir))
    ev = evaluate(ds, DirTree(sub), "sLM21")
    core = build_entry(ds, ev.results, ev.report.params, ev.report.meta)
    assert entry["scores"] == core["scores"]
    assert entry["extras"] == core["extras"]
    assert entry["model_id"] == job.model_id and entry["zrc"]["owner"] == "frank"
    assert entry["zrc"]["baseline"] is False and entry["zrc"]["scorer_version"].startswith("lexical=")


def test_publish_requires_full_meta(stack, admin, slm21_case, tmp_path):
    import yaml
    sub = fresh(slm21_case[1], tmp_path, "meta")
    meta = yaml.safe_load((sub / "meta.yaml").read_text())
    meta["username"] = "<fill me>"
    (sub / "meta.yaml").write_text(yaml.safe_dump(meta))
    with user_client(stack, admin, "gina") as gina:
        up = gina.upload_folder(sub)
        job = gina.wait(gina.evaluate(up.digest, "sLM21", publish=True))
        assert job.state == gateway_pb2.JOB_STATE_INVALID
        assert any(f.code == "meta_template" for f in job.findings)


def test_admin_rescores_when_a_scorer_changes(stack, admin, prosaudit_case):
    up = admin.upload_folder(prosaudit_case[1])
    first = admin.wait(admin.evaluate(up.digest, "prosAudit", publish=True, baseline=True))
    assert first.state == OK
    assert admin.rescore("prosAudit") == [], "nothing to do while the scorer is unchanged"
    stack.stop("scoring-prosaudit")
    stack.extra_env["ZRC_SCORER_VERSION"] = "2"
    try:
        stack.start_service("scoring-prosaudit")
    finally:
        del stack.extra_env["ZRC_SCORER_VERSION"]
    (job_id,) = admin.rescore("prosAudit")
    assert admin.wait(job_id).state == OK
    board = admin.leaderboard("prosAudit")
    (entry,) = [e for e in board if e["zrc"]["entry_id"] == first.job_id]
    assert entry["zrc"]["scorer_version"] == "english=2" and entry["zrc"]["baseline"] is True
    assert len(board) == 1, "the entry was replaced, not duplicated"


def test_cli_error_sentences_against_the_server(stack, admin, slm21_case, tmp_path, monkeypatch, capsys):
    from zrc.cli.main import main

    monkeypatch.setenv("ZRC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZRC_SERVER", stack.server)
    monkeypatch.setenv("ZRC_CA_FILE", stack.ca_file)
    monkeypatch.delenv("ZRC_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("ZRC_TOKEN", "zrc_wrong")
    assert main(["benchmarks:run", "sLM21", str(slm21_case[1])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the server at") and "refused the token" in err and "\n" not in err
    token = admin.create_token("hank")
    monkeypatch.delenv("ZRC_TOKEN")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(token + "\n"))
    assert main(["user:login"]) == 0
    assert "logged in" in capsys.readouterr().out
    assert main(["benchmarks:run", "sLM21", str(slm21_case[1]), "--dataset", "nope", "-q"]) == 2
    err = capsys.readouterr().err
    assert "dataset nope is not imported" in err and "zrc datasets:import" in err
    assert main(["admin:token-create", "ivy"]) == 2
    assert "needs an admin token" in capsys.readouterr().err
    monkeypatch.delenv("ZRC_CA_FILE")  # the stack's throwaway CA is not a system root
    assert main(["user:whoami"]) == 2
    err = capsys.readouterr().err.strip()
    assert "TLS connection" in err and "ZRC_CA_FILE" in err and "\n" not in err


def test_a_digest_grants_nothing_without_the_bytes(stack, admin, slm21_case, tmp_path):
    archive = tmp_path / "alice.zip"
    build_archive(fresh(slm21_case[1], tmp_path, "possession"), archive)
    data = archive.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with user_client(stack, admin, "alice2") as alice, user_client(stack, admin, "bob2") as bob:
        with pytest.raises(grpc.RpcError):  # bob starts an upload of the same bytes and is cut off
            bob.upload_archive(archive, limit=len(data) // 2, chunk=16 << 10)
        assert alice.upload_archive(archive).created, "alice's upload never uses bob's partial bytes"
        job_id = alice.evaluate(digest, "sLM21", sets=["dev"], tasks=["lexical"])
        assert alice.wait(job_id).state == OK
        # bob read the digest off the leaderboard
        state = bob.get_upload(digest)
        assert not state.stored and state.committed == 0, "GetUpload grants nothing: send it all"
        meta = gateway_pb2.UploadSubmissionRequest(metadata=gateway_pb2.UploadMetadata(sha256=digest, size=len(data)))
        assert code_of(lambda: bob.stub.UploadSubmission(iter([meta]), metadata=bob.metadata)) == \
            grpc.StatusCode.INVALID_ARGUMENT, "metadata without the bytes grants nothing"
        assert code_of(lambda: bob.evaluate(digest, "sLM21", sets=["dev"], tasks=["lexical"])) == \
            grpc.StatusCode.PERMISSION_DENIED
        assert code_of(lambda: bob.get_scores(job_id)) == grpc.StatusCode.PERMISSION_DENIED
        # sending every byte is possession: bob may now evaluate his copy (nothing is stored twice)
        assert not bob.upload_archive(archive).created
        assert bob.wait(bob.evaluate(digest, "sLM21", sets=["dev"], tasks=["lexical"])).state == OK
    # or an admin grants it (audited); a non-admin cannot
    with user_client(stack, admin, "cleo2") as cleo:
        assert code_of(lambda: cleo.evaluate(digest, "sLM21", sets=["dev"], tasks=["lexical"])) == \
            grpc.StatusCode.PERMISSION_DENIED
        assert code_of(lambda: cleo.grant_submission(digest, "cleo2")) == grpc.StatusCode.PERMISSION_DENIED
        admin.grant_submission(digest, "cleo2")
        assert cleo.get_upload(digest).stored
        assert code_of(lambda: admin.grant_submission("0" * 64, "cleo2")) == grpc.StatusCode.NOT_FOUND
    assert ("submission-grant", "cleo2") in [(r.action, r.target) for r in admin.audit(1000)]


def test_published_identity_is_the_token_user(stack, admin, slm21_case, tmp_path):
    import yaml

    def sub_as(username, model_id, tag):
        sub = fresh(slm21_case[1], tmp_path, tag)
        meta = yaml.safe_load((sub / "meta.yaml").read_text())
        meta["username"] = username
        meta["model_info"]["model_id"] = model_id
        (sub / "meta.yaml").write_text(yaml.safe_dump(meta))
        return sub

    with user_client(stack, admin, "ada") as ada, user_client(stack, admin, "bea") as bea:
        assert code_of(lambda: admin.create_user("admin")) == grpc.StatusCode.INVALID_ARGUMENT
        up = ada.upload_folder(sub_as("bea", "ada-model", "spoof"))
        job = ada.wait(ada.evaluate(up.digest, "sLM21", publish=True))
        assert job.state == gateway_pb2.JOB_STATE_INVALID
        assert [f.code for f in job.findings if f.severity == common_pb2.SEVERITY_ERROR] == ["meta_username_mismatch"]
        up = ada.upload_folder(sub_as("ada", "ada-model", "mine"))
        job = ada.wait(ada.evaluate(up.digest, "sLM21", publish=True))
        assert job.state == OK and job.model_id == "ada-model"
        (entry,) = [e for e in ada.leaderboard("sLM21") if e["zrc"]["job_id"] == job.job_id]
        assert entry["submitted_by"] == "ada"
        up = bea.upload_folder(sub_as("bea", "ada-model", "taken"))
        job = bea.wait(bea.evaluate(up.digest, "sLM21", publish=True))
        assert job.state == gateway_pb2.JOB_STATE_INVALID
        assert [f.code for f in job.findings if f.severity == common_pb2.SEVERITY_ERROR] == ["meta_model_id_taken"]


def test_sixty_concurrent_evaluations_accept_exactly_the_quota(stack, admin, slm21_case, tmp_path, monkeypatch,
                                                               capsys):
    from concurrent.futures import ThreadPoolExecutor

    from zrc.cli.main import main
    token = admin.create_token("quinn")
    with stack.client(token=token) as quinn:
        up = quinn.upload_folder(fresh(slm21_case[1], tmp_path, "burst"))

        def evaluate(_):
            try:
                return quinn.evaluate(up.digest, "sLM21", sets=["dev"], tasks=["lexical"])
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc.details()
                return None

        with ThreadPoolExecutor(60) as pool:
            accepted = [j for j in pool.map(evaluate, range(60)) if j]
        assert len(accepted) == QUOTA
        assert quinn.whoami().quota_left["sLM21"] == 0
        for job_id in accepted:
            quinn.wait(job_id)
    # the CLI says so before sending a byte
    monkeypatch.setenv("ZRC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZRC_SERVER", stack.server)
    monkeypatch.setenv("ZRC_CA_FILE", stack.ca_file)
    monkeypatch.setenv("ZRC_TOKEN", token)
    s3 = S3Storage(stack.s3["endpoint"], stack.s3["access_key"], stack.s3["secret_key"])
    before = s3.list(SUBMISSIONS)
    assert main(["benchmarks:run", "sLM21", str(fresh(slm21_case[1], tmp_path, "late")), "-q"]) == 2
    err = capsys.readouterr().err
    assert "quota" in err and "nothing was uploaded" in err.lower()
    assert s3.list(SUBMISSIONS) == before, "refused before the upload"


def test_internal_services_refuse_everyone_but_the_gateway(stack):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from zrc.common.runtime import channel
    from zrc.pb.results.v1 import results_pb2, results_pb2_grpc
    from zrc.pb.scoring.v1 import scoring_pb2, scoring_pb2_grpc
    from zrc.pb.validation.v1 import validation_pb2, validation_pb2_grpc
    env = read_env(stack.root / "env")
    sel = common_pb2.Selection(submission_digest="0" * 64, benchmark="sLM21")
    calls = {
        "ZRC_RESULTS_ADDR": lambda ch: [
            lambda: results_pb2_grpc.ResultsServiceStub(ch).PublishEntry(results_pb2.PublishEntryRequest(
                benchmark="sLM21", entry_id="0" * 32), timeout=10),
            lambda: results_pb2_grpc.ResultsServiceStub(ch).PutJob(results_pb2.PutJobRequest(), timeout=10),
            lambda: results_pb2_grpc.ResultsServiceStub(ch).ListJobs(results_pb2.ListJobsRequest(), timeout=10)],
        "ZRC_VALIDATION_ADDR": lambda ch: [
            lambda: validation_pb2_grpc.ValidationServiceStub(ch).Validate(
                validation_pb2.ValidateRequest(selection=sel), timeout=10)],
        "ZRC_SCORER_SEMANTIC_ADDR": lambda ch: [
            lambda: scoring_pb2_grpc.ScoringServiceStub(ch).Score(scoring_pb2.ScoreRequest(selection=sel), timeout=10),
            lambda: scoring_pb2_grpc.ScoringServiceStub(ch).Describe(scoring_pb2.DescribeRequest(), timeout=10)],
    }
    for var, make in calls.items():
        with channel(env[var]) as ch:
            for call in make(ch):
                assert code_of(call) == grpc.StatusCode.UNAUTHENTICATED, var
            health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert health.status == health_pb2.HealthCheckResponse.SERVING, "probes need no credential"


def test_admin_cli_manages_tokens_and_audits_it(stack, admin, monkeypatch, capsys, tmp_path):
    import json as _json

    from zrc.cli.main import main
    monkeypatch.setenv("ZRC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZRC_SERVER", stack.server)
    monkeypatch.setenv("ZRC_CA_FILE", stack.ca_file)
    monkeypatch.setenv("ZRC_TOKEN", stack.admin_token)

    def run(*argv) -> object:
        assert main([*argv, "--json"]) == 0, argv
        return _json.loads(capsys.readouterr().out)

    made = run("admin:token-create", "tina", "--expires-days", "30")
    assert made["expires_at"].endswith("Z") and made["id"]
    other = admin.create_token("tina")
    tokens = run("admin:tokens", "tina")
    assert {t["id"] for t in tokens} >= {made["id"]} and len(tokens) == 2
    assert made["token"] not in _json.dumps(tokens) and other not in _json.dumps(tokens), "never a secret"
    assert run("admin:token-revoke", "--id", made["id"]) == {"ok": True, "revoked": 1}
    with stack.client(token=made["token"]) as t:
        assert code_of(t.whoami) == grpc.StatusCode.UNAUTHENTICATED
    run("admin:user-disable", "tina")
    with stack.client(token=other) as t:
        with pytest.raises(grpc.RpcError) as exc:
            t.whoami()
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED and "disabled" in exc.value.details()
        run("admin:user-enable", "tina")
        assert t.whoami().user == "tina"
        assert code_of(lambda: t.list_users()) == grpc.StatusCode.PERMISSION_DENIED
    assert {"name": "tina", "admin": False, "disabled": False} in [
        {k: u[k] for k in ("name", "admin", "disabled")} for u in run("admin:users")]
    assert run("admin:token-revoke", "--user", "tina") == {"ok": True, "revoked": 1}
    actions = [(r["action"], r["target"]) for r in run("admin:audit", "--limit", "1000")]
    for want in [("token-create", "tina"), ("token-revoke", ""), ("user-disable", "tina"), ("user-enable", "tina"),
                 ("token-revoke", "tina")]:
        assert want in actions, want


def test_submit_checks_the_username_before_uploading(stack, admin, slm21_case, tmp_path, monkeypatch, capsys):
    from zrc.cli.main import main
    monkeypatch.setenv("ZRC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ZRC_SERVER", stack.server)
    monkeypatch.setenv("ZRC_CA_FILE", stack.ca_file)
    monkeypatch.setenv("ZRC_TOKEN", admin.create_token("uma"))
    s3 = S3Storage(stack.s3["endpoint"], stack.s3["access_key"], stack.s3["secret_key"])
    before = s3.list(SUBMISSIONS)
    sub = fresh(slm21_case[1], tmp_path, "uma")   # meta.yaml says username: demo
    assert main(["submit", str(sub), "-q"]) == 1
    err = capsys.readouterr().err
    assert "[meta_username_mismatch]" in err and "set username: uma" in err and "nothing was uploaded" in err
    assert s3.list(SUBMISSIONS) == before
