"""One error vocabulary: domain errors become status codes and rich details in the one interceptor, over a real
gRPC call; object keys keep the layout stored data has; a client imports no server code."""

from __future__ import annotations

import subprocess
import sys

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from zrc.common.channel import channel
from zrc.common.runtime import start_server
from zrc.core import errors
from zrc.core.benchmarks import SelectionError, get_benchmark
from zrc.stack import free_port
from zrc.storage import PreconditionFailed, StorageUnavailable, keys

RAISES = {
    "not_found": errors.NotFound("job 0123"),
    "invalid": errors.InvalidArgument("job 1 found the submission invalid",
                                      violations=[("lexical/dev.txt:3", "not a number [score_nan]")]),
    "quota": errors.ResourceExhausted("daily quota reached", quota_subject="user:ann/benchmark:sLM21",
                                      retry_after=1.5),
    "busy": errors.ResourceExhausted("the server has 6 streams open"),
    "denied": errors.PermissionDenied("this job belongs to another user"),
    "unauthenticated": errors.Unauthenticated("invalid token"),
    "precondition": errors.FailedPrecondition("job is SCORING, not finished yet"),
    "lost": PreconditionFailed("results/auth/tokens/x.json"),
    "down": StorageUnavailable("object storage unavailable: timeout"),
    "selection": SelectionError("unknown benchmark 'x'"),
    "bug": ZeroDivisionError("a secret in a bug"),
}


@pytest.fixture(scope="module")
def call():
    def fail(request, context):
        raise RAISES[request.decode()]

    def register(server) -> list[str]:
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            "t.Errors", {"Fail": grpc.unary_unary_rpc_method_handler(fail)})])
        return ["t.Errors"]

    port = free_port()
    server, _, _, stop = start_server("t", register, f"127.0.0.1:{port}", 2, None)
    ch = channel(f"127.0.0.1:{port}")
    method = ch.unary_unary("/t.Errors/Fail")

    def call(name: str) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as exc:
            method(name.encode(), timeout=10)
        return exc.value
    yield call
    ch.close()
    stop.set()
    server.stop(0)


@pytest.mark.integration   # a real call through a server on a loopback port
@pytest.mark.parametrize("name,code", [
    ("not_found", "NOT_FOUND"), ("invalid", "INVALID_ARGUMENT"), ("quota", "RESOURCE_EXHAUSTED"),
    ("busy", "RESOURCE_EXHAUSTED"), ("denied", "PERMISSION_DENIED"), ("unauthenticated", "UNAUTHENTICATED"),
    ("precondition", "FAILED_PRECONDITION"), ("lost", "ABORTED"), ("down", "UNAVAILABLE"),
    ("selection", "INVALID_ARGUMENT"), ("bug", "INTERNAL")])
def test_each_domain_error_has_its_status(call, name, code):
    exc = call(name)
    assert exc.code() == grpc.StatusCode[code]
    if name == "bug":
        assert exc.details() == "internal error (see the server log)", "a bug's message never reaches a client"
    else:
        assert exc.details() == str(RAISES[name])
    if name == "not_found":
        assert exc.details() == "job 0123", "NotFound is a KeyError, but its message is not quoted"
    if name == "lost":
        assert "try again" in exc.details()


@pytest.mark.integration
def test_rich_details_reach_the_client(call):
    st = rpc_status.from_call(call("invalid"))
    bad = error_details_pb2.BadRequest()
    assert st.details[0].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [("lexical/dev.txt:3",
                                                                         "not a number [score_nan]")]
    st = rpc_status.from_call(call("quota"))
    quota, retry = error_details_pb2.QuotaFailure(), error_details_pb2.RetryInfo()
    assert st.details[0].Unpack(quota) and st.details[1].Unpack(retry)
    assert quota.violations[0].subject == "user:ann/benchmark:sLM21"
    assert quota.violations[0].description == "daily quota reached"
    assert retry.retry_delay.ToNanoseconds() == 1_500_000_000
    assert rpc_status.from_call(call("busy")) is None, "no details: a plain status"


def test_an_unknown_benchmark_is_a_selection_error_not_a_key_error():
    with pytest.raises(SelectionError, match="unknown benchmark 'nope'; available: sLM21, prosAudit"):
        get_benchmark("nope")


def test_keys_keep_the_stored_layout():
    """Stored data stays readable: these are the keys every store written so far holds."""
    d, jid = "ab" * 32, "0f" * 16
    assert keys.archive(d) == f"archives/{d}.zip" and keys.archive_digest(keys.archive(d)) == d
    assert keys.pooled(d, "h") == f"derived/{d}/pooled-h.npz" and keys.derived(d) == f"derived/{d}/"
    assert keys.pooled_digest(keys.pooled(d, "c" * 64)) == d and keys.pooled_digest(f"derived/{d}/x.npz") is None
    assert keys.upload_segment("ann", d, 8, 16) == f"uploads/ann/{d}/{8:016d}-{16:016d}"
    assert keys.staging("ann", d) == f"staging/ann/{d}.zip"
    assert keys.dataset_manifest("sLM21-dataset") == "sLM21-dataset/manifest.json"
    assert keys.dataset_files("sLM21-dataset") == "sLM21-dataset/files"
    assert keys.dataset_file("sLM21-dataset", "lexical/dev/gold.csv") == "sLM21-dataset/files/lexical/dev/gold.csv"
    assert keys.result(d) == f"results/{d}.json.gz" and keys.result(d, legacy=True) == f"results/{d}.json"
    assert keys.job(jid) == f"jobs/{jid}.json" and keys.open_marker(jid) == f"open/{jid}"
    assert keys.entry(jid) == f"entries/{jid}.json"
    assert keys.leaderboard_entry("sLM21", jid) == f"leaderboards/sLM21/{jid}.json"
    assert keys.user("ann") == "auth/users/ann.json" and keys.token(d) == f"auth/tokens/{d}.json"
    assert keys.owner(d, "ann") == f"auth/owners/{d}/ann" and keys.model("m") == "auth/models/m"
    assert keys.quota_slot("ann", "sLM21", "2026-12-01", 3) == "auth/quota/ann/sLM21/2026-12-01/slot-0003"
    assert keys.attempts("ann", "sLM21", "2026-12-01") == "auth/attempts/ann/sLM21/2026-12-01/"
    assert keys.audit("2026-12-01", "120000-ab") == "auth/audit/2026-12-01/120000-ab.json"


@pytest.mark.parametrize("build", [lambda: keys.archive("../etc"), lambda: keys.job("x/../y"),
                                   lambda: keys.dataset_manifest("../x"), lambda: keys.upload_prefix("a/b", "0" * 64),
                                   lambda: keys.result("nothex")])
def test_no_key_is_built_from_an_unchecked_value(build):
    with pytest.raises(errors.InvalidArgument):
        build()


def test_importing_the_client_loads_no_server_code():
    code = ("import sys, zrc.client\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[:2] in (['zrc', 'gateway'], ['zrc', 'scoring'],"
            " ['zrc', 'validation'], ['zrc', 'results'], ['zrc', 'storage']) or m == 'zrc.common.runtime')\n"
            "print(bad)\n"
            "sys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"import zrc.client loaded server modules: {r.stdout}{r.stderr}"


@pytest.mark.integration
def test_an_invalid_job_answers_its_findings_as_field_violations(tmp_path, slm21_copy):
    """GetScores of an INVALID job: INVALID_ARGUMENT with a BadRequest naming file:line (the gateway's logic
    raises InvalidArgument(violations=...), the interceptor builds the detail)."""
    import shutil

    from zrc.client import Client
    from zrc.embedded import start_embedded
    from zrc.pb.gateway.v1 import gateway_pb2

    data, sub = slm21_copy
    lines = (sub / "lexical/dev.txt").read_text().splitlines()
    lines[4] = lines[4].split()[0] + " notanumber"
    (sub / "lexical/dev.txt").write_text("\n".join(lines) + "\n")
    shutil.rmtree(sub / "semantic")   # not needed here: a smaller archive
    emb = start_embedded(tmp_path / "home")
    try:
        with Client(emb.address) as client:
            client.import_dataset(data, "sLM21-dataset")
            up = client.upload_folder(sub)
            job = client.wait(client.evaluate(up.digest, "sLM21", sets=["dev"], tasks=["lexical"]))
            assert job.state == gateway_pb2.JOB_STATE_INVALID
            with pytest.raises(grpc.RpcError) as exc:
                client.get_scores(job.job_id)
    finally:
        emb.close()
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert rpc_status.from_call(exc.value).details[0].Unpack(bad)
    assert any(v.field == "lexical/dev.txt:5" and "[bad_score]" in v.description for v in bad.field_violations)


def test_grpc_is_imported_only_by_servicers_interceptors_and_clients():
    """Logic raises domain errors; only these modules speak gRPC (a new one must say which of the three it is)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "services" / "zrc"
    allowed = {"common/runtime.py", "common/internal.py", "gateway/interceptor.py",   # interceptors
               "common/channel.py", "client.py", "common/healthcheck.py", "gateway/runner.py"}   # clients
    found = set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("pb/") or rel.endswith("/server.py"):   # generated code, servicers
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "grpc" or n.startswith(("grpc.", "grpc_", "google.rpc")) for n in names):
                found.add(rel)
    assert found <= allowed, f"grpc imported outside servicers, interceptors and clients: {sorted(found - allowed)}"


def test_a_full_server_tells_when_to_retry():
    """Every stream taken: RESOURCE_EXHAUSTED with retry_after (a RetryInfo on the wire); a user over their own
    limit is told to wait for their streams instead."""
    from zrc.gateway.streams import RETRY_AFTER, StreamGuard

    guard = StreamGuard(per_user=1, total=2, max_watches=1)
    with guard.open("ann", "upload"), guard.open("bob", "upload"):
        with pytest.raises(errors.ResourceExhausted, match="ZRC_MAX_STREAMS=2") as full, guard.open("cid", "upload"):
            pass
        assert full.value.retry_after == RETRY_AFTER
        with guard.open("cid", "watch"):   # watches hold no thread: their own total
            with pytest.raises(errors.ResourceExhausted, match="ZRC_WATCH_MAX_STREAMS=1") as watches, \
                    guard.open("dan", "watch"):
                pass
            assert watches.value.retry_after == RETRY_AFTER
    with guard.open("ann", "watch"):
        with pytest.raises(errors.ResourceExhausted, match="ZRC_STREAMS_PER_USER=1") as mine, \
                guard.open("ann", "upload"):
            pass
        assert mine.value.retry_after is None
