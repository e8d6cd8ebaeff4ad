"""Integration: every service as its own process, a real S3 server (SeaweedFS), real gRPC.

Checks the acceptance of the services issue: same score files as the core for
sLM21 and ProsAudit, invalid submissions answered with findings and
INVALID_ARGUMENT-class errors, a scorer killed mid-job, a gateway killed and
restarted, the S3 server paused.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from zrc.core.dataset import load_dataset
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree
from zrc.pb.gateway.v1 import gateway_pb2

from .conftest import running_stack

pytestmark = pytest.mark.timeout(300)
SUCCEEDED = gateway_pb2.JOB_STATE_SUCCEEDED


@pytest.fixture(scope="module")
def stack(tmp_path_factory, slm21_case, prosaudit_case):
    env = {"ZRC_JOB_LEASE_SECONDS": "3", "ZRC_REAP_SECONDS": "1", "ZRC_RETRY_BUDGET_SECONDS": "90"}
    with running_stack(tmp_path_factory.mktemp("stack"), env, slm21_case, prosaudit_case) as st:
        yield st


@pytest.fixture()
def client(stack):
    with stack.client(token=stack.admin_token) as c:
        yield c


def fresh(sub, tmp_path):
    """A copy of a submission with a different digest, so that nothing comes from the results cache."""
    dest = tmp_path / f"fresh-{time.monotonic_ns()}"
    shutil.copytree(sub, dest)
    (dest / "notes.md").write_text(f"run {time.time_ns()}\n")
    return dest


@pytest.fixture(scope="module")
def big_case(stack, tmp_path_factory):
    """Large enough that scoring semantic takes a while (to kill a scorer while it works)."""
    from zrc.core.generate import GenOptions, generate
    ds, sub = generate(tmp_path_factory.mktemp("big"), "sLM21",
                       GenOptions(scale=0.05, seed=9, dim=256, sets=("test",)))
    with stack.client(token=stack.admin_token) as c:
        c.import_dataset(ds, "sLM21-big")
    return ds, sub


def core_files(case, bench, **selection):
    dataset_dir, sub = case
    ev = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), bench, **selection)
    assert ev.ok, [str(f) for f in ev.findings]
    return ev.files()


ANALYSIS = ("score_confidence.csv", "provenance.json")   # ours, next to the reference files the core renders


def scores(client, job_id):
    return {f.name: f.content for f in client.get_scores(job_id).files if f.name not in ANALYSIS}


@pytest.mark.parametrize("case,bench", [("slm21_case", "sLM21"), ("prosaudit_case", "prosAudit")])
def test_stack_scores_equal_core(request, client, case, bench):
    c = request.getfixturevalue(case)
    up = client.upload_folder(c[1])
    job_id = client.evaluate(up.digest, bench)
    states = [m.event.state for m in client.watch(job_id) if m.HasField("event")]
    assert states[0] == gateway_pb2.JOB_STATE_QUEUED and states[-1] == SUCCEEDED
    assert states == sorted(states), "job states never go backwards"
    assert scores(client, job_id) == core_files(c, bench)


def test_upload_is_deduplicated_and_results_cached(client, slm21_case):
    a = client.upload_folder(slm21_case[1])
    b = client.upload_folder(slm21_case[1])
    assert a.digest == b.digest and not b.created
    first = client.evaluate(a.digest, "sLM21", sets=["dev"], tasks=["lexical"])
    assert client.wait(first).state == SUCCEEDED
    again = client.evaluate(a.digest, "sLM21", sets=["dev"], tasks=["lexical"])
    events = [m.event.message for m in client.watch(again) if m.HasField("event")]
    assert any("(cached)" in e for e in events)


def test_invalid_submission_yields_findings(client, slm21_case, tmp_path):
    sub = tmp_path / "sub"
    shutil.copytree(slm21_case[1], sub)
    lines = (sub / "lexical/dev.txt").read_text().splitlines()
    lines[4] = lines[4].split()[0] + " notanumber"
    (sub / "lexical/dev.txt").write_text("\n".join(lines) + "\n")
    up = client.upload_folder(sub)
    job = client.wait(client.evaluate(up.digest, "sLM21"))
    assert job.state == gateway_pb2.JOB_STATE_INVALID
    f = next(f for f in job.findings if f.code == "bad_score")
    assert f.file == "lexical/dev.txt" and f.line == 5
    with pytest.raises(grpc.RpcError) as exc:
        client.get_scores(job.job_id)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(exc.value)
    detail = error_details_pb2.BadRequest()
    status.details[0].Unpack(detail)
    assert any(v.field == "lexical/dev.txt:5" for v in detail.field_violations)


def test_bad_requests_get_canonical_codes(client, slm21_case, tmp_path):
    up = client.upload_folder(slm21_case[1])
    cases = [
        (lambda: client.evaluate(up.digest, "nope"), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: client.evaluate(up.digest, "sLM21", tasks=["phonetic"]), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: client.evaluate(up.digest, "sLM21", dataset="missing-ds"), grpc.StatusCode.NOT_FOUND),
        (lambda: client.evaluate("0" * 64, "sLM21"), grpc.StatusCode.NOT_FOUND),
        (lambda: client.evaluate("xyz", "sLM21"), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: client.get_job("f" * 32), grpc.StatusCode.NOT_FOUND),
        (lambda: client.evaluate(up.digest, "prosAudit", dataset="sLM21-dataset"), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for call, code in cases:
        with pytest.raises(grpc.RpcError) as exc:
            call()
        assert exc.value.code() == code, exc.value.details()
    # a corrupted upload is refused and nothing becomes visible
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK" + os.urandom(1000))
    with pytest.raises(grpc.RpcError) as exc:
        client.upload_archive(bad)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as exc:
        client.stub.UploadSubmission(iter([gateway_pb2.UploadSubmissionRequest(
            metadata=gateway_pb2.UploadMetadata(sha256="0" * 64, size=10)),
            gateway_pb2.UploadSubmissionRequest(chunk=b"12345")]), timeout=30, metadata=client.metadata)
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "incomplete" in exc.value.details() and "resume from 5" in exc.value.details()


def test_scorer_killed_mid_job_then_restarted(stack, client, big_case, tmp_path):
    up = client.upload_folder(fresh(big_case[1], tmp_path))
    job_id = client.evaluate(up.digest, "sLM21", dataset="sLM21-big", sets=["test"], tasks=["semantic"])
    stack.stop("scoring-semantic", signal.SIGKILL)  # the job is under way: its scorer dies
    for msg in client.watch(job_id):
        if msg.event.state == gateway_pb2.JOB_STATE_SCORING:
            break
    time.sleep(2)
    job = client.get_job(job_id)
    assert job.state == gateway_pb2.JOB_STATE_SCORING, "the job waits for the scorer instead of failing"
    stack.start_service("scoring-semantic")
    job = client.wait(job_id)
    assert job.state == SUCCEEDED, job.failure_reason
    assert scores(client, job_id) == core_files(big_case, "sLM21", sets=["test"], tasks=["semantic"])


def test_gateway_killed_and_restarted_resumes_jobs(stack, slm21_case, tmp_path):
    stack.stop("scoring-lexical", signal.SIGKILL)  # the job will wait on it, holding its lease
    with stack.client(token=stack.admin_token) as c:
        up = c.upload_folder(fresh(slm21_case[1], tmp_path))
        job_id = c.evaluate(up.digest, "sLM21", sets=["test"], tasks=["lexical"], skip_validation=True)
        for msg in c.watch(job_id):
            if msg.event.state == gateway_pb2.JOB_STATE_SCORING:
                break
    stack.stop("gateway", signal.SIGKILL)
    stack.start_service("scoring-lexical")
    stack.start_service("gateway")
    with stack.client(token=stack.admin_token) as c:
        job = c.wait(job_id, timeout=120)
        assert job.state == SUCCEEDED, job.failure_reason
        want = {k: v for k, v in core_files(slm21_case, "sLM21").items() if k.startswith("score_lexical_test")}
        assert scores(c, job_id) == want


def test_s3_paused_loses_nothing(stack, client, prosaudit_case, slm21_case, tmp_path):
    up = client.upload_folder(prosaudit_case[1])
    before = client.evaluate(up.digest, "prosAudit")
    assert client.wait(before).state == SUCCEEDED
    kept = scores(client, before)
    up2 = client.upload_folder(fresh(slm21_case[1], tmp_path))
    job_id = client.evaluate(up2.digest, "sLM21", tasks=["syntactic"], sets=["dev"], skip_validation=True)
    s3 = stack.procs["s3"]
    os.killpg(s3.pid, signal.SIGSTOP)
    timer = threading.Timer(4.0, lambda: os.killpg(s3.pid, signal.SIGCONT))
    timer.start()
    try:
        job = client.wait(job_id, timeout=180)
    finally:
        timer.join()
        os.killpg(s3.pid, signal.SIGCONT)
    assert job.state == SUCCEEDED, job.failure_reason
    want = {k: v for k, v in core_files(slm21_case, "sLM21").items() if k.startswith("score_syntactic_dev")}
    assert scores(client, job_id) == want
    assert scores(client, before) == kept
    # and the stack is healthy again
    from zrc.common.runtime import wait_serving
    for name in stack.addrs:
        wait_serving(stack.health_address(name), timeout=30)


def test_cli_against_stack_equals_embedded_and_core(stack, slm21_case, tmp_path, monkeypatch, capsys):
    from zrc.cli.main import main

    monkeypatch.setenv("ZRC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZRC_SERVER", raising=False)
    assert main(["datasets:import", str(slm21_case[0])]) == 0
    assert main(["benchmarks:run", "sLM21", str(slm21_case[1]), "-o", str(tmp_path / "embedded"), "-q"]) == 0
    monkeypatch.setenv("ZRC_SERVER", stack.server)
    monkeypatch.setenv("ZRC_CA_FILE", stack.ca_file)
    monkeypatch.setenv("ZRC_TOKEN", stack.admin_token)
    assert main(["benchmarks:run", "sLM21", str(slm21_case[1]), "-o", str(tmp_path / "server"), "-q"]) == 0
    assert main(["benchmarks:run", "sLM21", str(slm21_case[1]), "-o", str(tmp_path / "raw"), "-q", "--raw"]) == 0
    embedded = {p.name: p.read_bytes() for p in (tmp_path / "embedded").iterdir()}
    server = {p.name: p.read_bytes() for p in (tmp_path / "server").iterdir()}   # pooled upload (default)
    raw = {p.name: p.read_bytes() for p in (tmp_path / "raw").iterdir()}
    # intervals are seeded: the same in every mode, byte for byte; provenance names the job (differs)
    assert embedded.pop("score_confidence.csv") == server.pop("score_confidence.csv") == raw.pop(
        "score_confidence.csv")
    prov = [json.loads(d.pop("provenance.json")) for d in (embedded, server, raw)]
    assert prov[0]["dataset_digest"] == prov[1]["dataset_digest"] == prov[2]["dataset_digest"]
    assert prov[0]["job_id"] != prov[1]["job_id"]
    assert embedded == server == raw == core_files(slm21_case, "sLM21")


def test_a_scorer_that_stays_down_fails_the_job_with_its_reason(stack, prosaudit_case, tmp_path):
    """Never stuck: once the retry budget is spent, the job ends FAILED and says why."""
    budget = stack.extra_env["ZRC_RETRY_BUDGET_SECONDS"]
    stack.stop("gateway")
    stack.stop("scoring-prosaudit", signal.SIGKILL)
    stack.extra_env["ZRC_RETRY_BUDGET_SECONDS"] = "3"
    try:
        stack.start_service("gateway")
        with stack.client(token=stack.admin_token) as c:
            up = c.upload_folder(fresh(prosaudit_case[1], tmp_path))
            job = c.wait(c.evaluate(up.digest, "prosAudit"), timeout=120)
            assert job.state == gateway_pb2.JOB_STATE_FAILED
            assert "stayed unavailable" in job.failure_reason and "UNAVAILABLE" in job.failure_reason
            with pytest.raises(grpc.RpcError) as exc:
                c.get_scores(job.job_id)
            assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        stack.extra_env["ZRC_RETRY_BUDGET_SECONDS"] = budget
        stack.stop("gateway")
        stack.start_service("scoring-prosaudit")
        stack.start_service("gateway")


def _sample(url: str, name: str, labels: dict[str, str]) -> float:
    """One sample of a Prometheus text-format page (0 when the series does not exist yet)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(url, timeout=10).read().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_every_process_serves_metrics_and_parts_are_counted_once(stack, client, slm21_case, tmp_path):
    urls = (stack.root / "metrics").read_text().split()
    assert len(urls) == len(stack.metrics_ports) == 7     # results, validation, 4 scorers, gateway
    for url in urls:
        assert _sample(url, "grpc_server_handled_total", {}) >= 0   # answers, in the text format
    gw = f"http://127.0.0.1:{stack.metrics_ports['gateway']}/metrics"
    scorer = f"http://127.0.0.1:{stack.metrics_ports['scoring-lexical']}/metrics"
    part = {"task": "lexical", "set": "dev"}
    parts0, hits0 = _sample(scorer, "zrc_scoring_parts_total", part), _sample(gw, "zrc_scoring_cache_hits_total", part)
    up0 = _sample(gw, "zrc_upload_bytes_total", {})
    up = client.upload_folder(fresh(slm21_case[1], tmp_path))
    assert client.wait(client.evaluate(up.digest, "sLM21", sets=["dev"], tasks=["lexical"])).state == SUCCEEDED
    assert _sample(scorer, "zrc_scoring_parts_total", part) == parts0 + 1
    assert _sample(gw, "zrc_upload_bytes_total", {}) > up0
    assert client.wait(client.evaluate(up.digest, "sLM21", sets=["dev"], tasks=["lexical"])).state == SUCCEEDED
    assert _sample(scorer, "zrc_scoring_parts_total", part) == parts0 + 1, "a cached part is not scored again"
    assert _sample(gw, "zrc_scoring_cache_hits_total", part) == hits0 + 1
    assert _sample(scorer, "grpc_server_handled_total",
                   {"grpc_method": "Score", "grpc_code": "OK"}) >= 1


def test_retention_sweeper_over_s3(stack):
    """list_ages on the S3 backend, and a sweep deleting an old unused archive but not a fresh upload."""
    from zrc.gateway.sweeper import RetentionSettings, Sweeper
    from zrc.storage import SUBMISSIONS
    from zrc.storage.s3 import S3Storage

    st = S3Storage(stack.s3["endpoint"], stack.s3["access_key"], stack.s3["secret_key"],
                   bucket_prefix=stack.s3["bucket_prefix"])
    digest = "9" * 64
    st.put_bytes(SUBMISSIONS, f"archives/{digest}.zip", b"PK")
    st.put_bytes(SUBMISSIONS, f"uploads/{'8' * 64}/0000000000000000-0000000000000002", b"PK")
    ages = dict(st.list_ages(SUBMISSIONS, "archives/"))
    assert 0 <= ages[f"archives/{digest}.zip"] < 120
    time.sleep(1.5)
    others = [{"selection": {"submission_digest": k[len("archives/"):-4]}, "state": "SUCCEEDED"}
              for k in st.list(SUBMISSIONS, "archives/") if digest not in k]   # other tests' archives stay
    out = Sweeper(st, lambda: others, RetentionSettings(upload_hours=1, invalid_hours=1 / 3600)).sweep()
    assert not st.exists(SUBMISSIONS, f"archives/{digest}.zip") and out["archives"] == 1
    assert st.exists(SUBMISSIONS, f"uploads/{'8' * 64}/0000000000000000-0000000000000002")
