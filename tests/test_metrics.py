"""Metrics: one interceptor counts every RPC by method and status code, and the scrape endpoint serves them."""

from __future__ import annotations

import urllib.request

import grpc
import pytest
from prometheus_client import REGISTRY

from zrc.common import metrics, runtime
from zrc.pb.results.v1 import results_pb2, results_pb2_grpc
from zrc.results.server import register
from zrc.storage.local import LocalStorage

pytestmark = pytest.mark.integration   # starts a results server and a metrics endpoint

SERVICE = "zrc.results.v1.ResultsService"


def handled(method: str, code: str) -> float:
    v = REGISTRY.get_sample_value("grpc_server_handled_total",
                                  {"grpc_service": SERVICE, "grpc_method": method, "grpc_code": code})
    return v or 0.0


def timed(method: str) -> float:
    return REGISTRY.get_sample_value("grpc_server_handling_seconds_count",
                                     {"grpc_service": SERVICE, "grpc_method": method}) or 0.0


@pytest.fixture()
def results(tmp_path):
    storage = LocalStorage(str(tmp_path / "store"))
    server, port, _, stop = runtime.start_server("results", register(storage), "127.0.0.1:0", 2, storage)
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield results_pb2_grpc.ResultsServiceStub(ch)
    finally:
        ch.close()
        stop.set()
        server.stop(0).wait()


def test_rpcs_counted_by_method_and_the_code_the_client_saw(results):
    before_nf, before_ok, before_t = handled("GetJob", "NOT_FOUND"), handled("ListJobs", "OK"), timed("GetJob")
    with pytest.raises(grpc.RpcError) as err:
        results.GetJob(results_pb2.GetJobRequest(job_id="0" * 32), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    results.ListJobs(results_pb2.ListJobsRequest(), timeout=5)
    results.ListJobs(results_pb2.ListJobsRequest(), timeout=5)
    assert handled("GetJob", "NOT_FOUND") == before_nf + 1
    assert handled("ListJobs", "OK") == before_ok + 2
    assert timed("GetJob") == before_t + 1


def test_scrape_endpoint_serves_the_text_format():
    port = metrics.serve_metrics({"ZRC_METRICS_PORT": "0", "ZRC_METRICS_ADDR": "127.0.0.1"})
    assert port
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for name in ("grpc_server_handled_total", "grpc_server_handling_seconds_bucket", "zrc_scoring_parts_total",
                 "zrc_lease_takeovers_total", "zrc_upload_bytes_total", "zrc_job_queue_depth"):
        assert f"# TYPE {name.removesuffix('_bucket').removesuffix('_total')}" in body, name


def test_metrics_are_off_unless_a_port_is_given():
    assert metrics.serve_metrics({}) is None


def test_a_bad_metrics_port_fails_fast(capsys):
    with pytest.raises(SystemExit) as exc:
        metrics.serve_metrics({"ZRC_METRICS_PORT": "ninety"})
    assert exc.value.code == 2
    assert "ZRC_METRICS_PORT" in capsys.readouterr().err
