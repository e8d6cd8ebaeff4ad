"""No caller can starve the gateway: idle uploads are cancelled, streams are bounded, watches are long polls."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from prometheus_client import REGISTRY

from zrc.client import Client
from zrc.common.convert import job_pb
from zrc.core import jobs
from zrc.embedded import start_embedded
from zrc.pb.gateway.v1 import gateway_pb2
from zrc.pb.results.v1 import results_pb2


@pytest.fixture()
def stack(tmp_path, monkeypatch):
    monkeypatch.setenv("ZRC_STREAM_IDLE_SECONDS", "1")
    monkeypatch.setenv("ZRC_STREAMS_PER_USER", "2")
    monkeypatch.setenv("ZRC_WATCH_SECONDS", "1")
    emb = start_embedded(tmp_path / "home")
    client = Client(emb.address)
    yield client
    client.close()
    emb.close()


def _idle_upload(hold: float):
    """Metadata, then nothing for ``hold`` seconds (an idle or very slow client)."""
    yield gateway_pb2.UploadSubmissionRequest(metadata=gateway_pb2.UploadMetadata(sha256="b" * 64, size=10))
    time.sleep(hold)


def test_an_idle_upload_is_cancelled(stack):
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        stack.stub.UploadSubmission(_idle_upload(10), timeout=20)
    assert e.value.code() == grpc.StatusCode.CANCELLED and time.monotonic() - t0 < 6


def _trickle(seconds: float):
    """Never idle for long, yet far too slow: one byte every 0.3 s."""
    yield gateway_pb2.UploadSubmissionRequest(metadata=gateway_pb2.UploadMetadata(sha256="c" * 64, size=1000))
    for _ in range(int(seconds / 0.3)):
        time.sleep(0.3)
        yield gateway_pb2.UploadSubmissionRequest(chunk=b"x")


def test_a_trickling_upload_is_cancelled(stack):
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        stack.stub.UploadSubmission(_trickle(10), timeout=20)
    assert e.value.code() == grpc.StatusCode.CANCELLED and time.monotonic() - t0 < 6


def test_streams_per_user_are_bounded_and_others_still_served(stack):
    errors: list[grpc.RpcError] = []

    def hold() -> None:
        try:
            stack.stub.UploadSubmission(_idle_upload(3), timeout=20)
        except grpc.RpcError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.2)
    assert stack.whoami().user   # short calls are still answered while streams are open
    for t in threads:
        t.join()
    exhausted = [e for e in errors if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert len(exhausted) == 1 and "ZRC_STREAMS_PER_USER=2" in exhausted[0].details()


def test_list_jobs_pages(stack, slm21_case):
    ds, sub = slm21_case
    stack.import_dataset(ds, "sLM21-dataset")
    digest = stack.upload_folder(sub).digest
    ids = [stack.evaluate(digest, "sLM21", sets=["dev"], tasks=["lexical"]) for _ in range(3)]
    first = stack.stub.ListJobs(gateway_pb2.ListJobsRequest(page_size=2))
    assert len(first.jobs) == 2 and first.next_page_token
    second = stack.stub.ListJobs(gateway_pb2.ListJobsRequest(page_size=2, page_token=first.next_page_token))
    assert [j.job_id for j in first.jobs] + [j.job_id for j in second.jobs] == ids and not second.next_page_token
    assert all(not j.findings for j in first.jobs)
    with pytest.raises(grpc.RpcError) as e:
        stack.stub.ListJobs(gateway_pb2.ListJobsRequest(page_token="garbage!"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_watch_reconnects_across_long_polls(stack, slm21_case):
    ds, sub = slm21_case
    stack.import_dataset(ds, "sLM21-dataset")
    digest = stack.upload_folder(sub).digest
    job_id = stack.evaluate(digest, "sLM21")
    job = stack.wait(job_id, timeout=120)   # a full evaluation outlasts several 1 s polls
    assert job.state == gateway_pb2.JOB_STATE_SUCCEEDED


def test_a_huge_value_is_not_echoed_back(stack):
    with pytest.raises(grpc.RpcError) as e:
        stack.stub.GetUpload(gateway_pb2.GetUploadRequest(sha256="f" * 5_000_000), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and len(e.value.details()) < 300


def test_watch_falls_back_to_polling_when_streams_are_taken(stack, slm21_case):
    ds, sub = slm21_case
    stack.import_dataset(ds, "sLM21-dataset")
    digest = stack.upload_folder(sub).digest
    job_id = stack.evaluate(digest, "sLM21", sets=["dev"], tasks=["lexical"])
    holders = [threading.Thread(target=lambda: _swallow(stack.stub.UploadSubmission, _idle_upload(0.9)))
               for _ in range(2)]   # the user's 2 stream slots, taken
    for t in holders:
        t.start()
    time.sleep(0.3)
    job = stack.wait(job_id, timeout=60)
    for t in holders:
        t.join()
    assert job.state == gateway_pb2.JOB_STATE_SUCCEEDED


def _swallow(fn, requests) -> None:
    try:
        fn(requests, timeout=20)
    except grpc.RpcError:
        pass


def _held_runner(emb) -> threading.Event:
    """Jobs wait in QUEUED until the returned event is set."""
    gate, run = threading.Event(), emb.runner.run

    def held(job_id: str) -> None:
        gate.wait(60)
        run(job_id)
    emb.runner.run = held
    return gate


@pytest.mark.integration
def test_a_job_another_gateway_changes_reaches_its_watchers(tmp_path, monkeypatch, slm21_case):
    """The record changes in storage, not through this gateway: the shared poller brings it to the watch."""
    monkeypatch.setenv("ZRC_WATCH_POLL_SECONDS", "0.2")
    emb = start_embedded(tmp_path / "home")
    client = Client(emb.address)
    gate = _held_runner(emb)
    try:
        ds, sub = slm21_case
        client.import_dataset(ds, "sLM21-dataset")
        job_id = client.evaluate(client.upload_folder(sub).digest, "sLM21", sets=["dev"], tasks=["lexical"])
        seen = []
        watch = client.watch(job_id, timeout=30)
        seen.append(next(watch))   # QUEUED
        c = emb._clients
        job = c.get_job(job_id)
        job.move(jobs.FAILED, "ended by another gateway")
        job.revision += 1   # written as another gateway would: straight to the results service
        c.call(c.results.PutJob, results_pb2.PutJobRequest(job=job_pb(job.to_dict()), conditional=True,
                                                           expected_revision=job.revision - 1))
        t0 = time.monotonic()
        seen.extend(watch)
        assert time.monotonic() - t0 < 5
        assert seen[-1].job.state == gateway_pb2.JOB_STATE_FAILED
        assert seen[-1].event.message == "ended by another gateway"
    finally:
        gate.set()
        client.close()
        emb.close()


def test_a_watch_gives_its_slot_back_when_the_client_goes(stack, slm21_case):
    ds, sub = slm21_case
    stack.import_dataset(ds, "sLM21-dataset")
    digest = stack.upload_folder(sub).digest
    job_id = stack.evaluate(digest, "sLM21", sets=["dev"], tasks=["lexical"])
    stack.wait(job_id, timeout=60)
    for _ in range(3):   # 2 slots per user in this stack: a slot kept by a cancelled watch would refuse one
        call = stack.stub.WatchJob(gateway_pb2.WatchJobRequest(job_id=job_id, after_seq=10**6), timeout=10)
        assert next(call).job.state == gateway_pb2.JOB_STATE_SUCCEEDED
        call.cancel()


@pytest.fixture()
def deployed_gateway(tmp_path):
    """A gateway started as a deployment starts it (health, reflection and the metrics interceptor), not the
    embedded stack's private servers, which nothing scrapes."""
    from zrc.common import runtime
    from zrc.core.benchmarks import SCORERS
    from zrc.gateway.server import build
    from zrc.pb.gateway.v1 import gateway_pb2_grpc
    from zrc.results.server import register as register_results
    from zrc.storage.local import LocalStorage

    storage = LocalStorage(str(tmp_path / "store"))
    storage.ensure_buckets()
    results, results_port, _, results_stop = runtime.start_server("results", register_results(storage), "127.0.0.1:0",
                                                                  2, storage)
    down = "127.0.0.1:1"   # nothing listens there: a watch never calls validation or a scorer
    env = {"ZRC_AUTH": "off", "ZRC_VALIDATION_ADDR": down, "ZRC_RESULTS_ADDR": f"127.0.0.1:{results_port}",
           "ZRC_INTERNAL_TOKEN": "t" * 32, **{f"ZRC_SCORER_{t.upper()}_ADDR": down for t in SCORERS}}
    reg, _runner, clients, _ = build(storage, env)
    server, port, _, stop = runtime.start_server("gateway", reg, "127.0.0.1:0", 4, storage)
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield gateway_pb2_grpc.GatewayServiceStub(ch)
    finally:
        ch.close()
        for srv, ev in ((server, stop), (results, results_stop)):
            ev.set()
            srv.stop(0).wait()
        clients.close()


@pytest.mark.integration
def test_a_pushed_watch_goes_through_the_interceptors(deployed_gateway):
    """WatchJob returns before its stream ends: errors are still mapped, and the call counted when it ends."""
    def handled(code: str) -> float:
        return REGISTRY.get_sample_value("grpc_server_handled_total", {
            "grpc_service": "zrc.gateway.v1.GatewayService", "grpc_method": "WatchJob", "grpc_code": code}) or 0
    before = handled("INVALID_ARGUMENT")
    with pytest.raises(grpc.RpcError) as e:
        list(deployed_gateway.WatchJob(gateway_pb2.WatchJobRequest(job_id="nope"), timeout=10))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "nope" in e.value.details()
    assert handled("INVALID_ARGUMENT") == before + 1
