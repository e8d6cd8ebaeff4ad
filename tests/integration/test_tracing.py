"""Traces across processes: with OTEL_EXPORTER_OTLP_ENDPOINT set, every service of the stack exports spans to
an OTLP collector (here a real gRPC one in the test), one trace follows a job from the gateway through
validation, the scorers and results, and every span of the job carries its id."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from zrc.pb.gateway.v1 import gateway_pb2
from zrc.stack import Stack

pytestmark = pytest.mark.timeout(300)


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self):
        self.spans: list[dict] = []
        self.lock = threading.Lock()

    def Export(self, request, context):
        with self.lock:
            for rs in request.resource_spans:
                service = next(a.value.string_value for a in rs.resource.attributes if a.key == "service.name")
                for ss in rs.scope_spans:
                    for sp in ss.spans:
                        self.spans.append({"service": service, "name": sp.name, "trace": sp.trace_id.hex(),
                                           "attrs": {a.key: a.value.string_value for a in sp.attributes}})
        return trace_service_pb2.ExportTraceServiceResponse()


def test_one_trace_follows_a_job_through_every_service(tmp_path, slm21_case):
    collector = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    st = Stack(tmp_path / "stack", extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                                              "OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_BSP_SCHEDULE_DELAY": "200"})
    try:
        st.up()
        with st.client(token=st.admin_token) as c:
            c.import_dataset(slm21_case[0], "sLM21-dataset")
            job = c.wait(c.evaluate(c.upload_folder(slm21_case[1]).digest, "sLM21", sets=["dev"],
                                    tasks=["lexical", "semantic"]))
            assert job.state == gateway_pb2.JOB_STATE_SUCCEEDED, job.failure_reason
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with collector.lock:
                mine = [s for s in collector.spans if s["attrs"].get("zrc.job_id") == job.job_id]
            # the watch tells the client the instant the job ends, before the gateway's "run job" span closes
            if {"zrc-validation", "zrc-scoring-lexical", "zrc-scoring-semantic", "zrc-results"} <= {
                    s["service"] for s in mine} and any(s["name"] == "run job" for s in mine):
                break
            time.sleep(0.5)
    finally:
        st.down()
        server.stop(0)
    services = {s["service"] for s in mine}
    assert {"zrc-gateway", "zrc-validation", "zrc-scoring-lexical", "zrc-scoring-semantic", "zrc-results"} <= services
    (root,) = [s for s in mine if s["name"] == "run job"]
    # the job's work is one trace across processes; only calls a client made to the gateway (Evaluate, GetJob,
    # and what they did, like recording the new job) are traces of their own
    client_traces = {s["trace"] for s in mine if "GatewayService/" in s["name"]}
    stray = [(s["service"], s["name"]) for s in mine if s["trace"] not in client_traces | {root["trace"]}]
    assert not stray, stray
    for service in ("zrc-validation", "zrc-scoring-lexical", "zrc-scoring-semantic"):
        assert {s["trace"] for s in mine if s["service"] == service} == {root["trace"]}, service
    assert any(s["name"].endswith("ValidationService/Validate") and s["service"] == "zrc-validation" for s in mine)
    assert any(s["name"].endswith("ScoringService/Score") and s["service"] == "zrc-scoring-semantic" for s in mine)
    evaluate = [s for s in collector.spans if s["name"].endswith("GatewayService/Evaluate")
                and s["service"] == "zrc-gateway"]
    assert any(s["attrs"].get("zrc.job_id") == job.job_id for s in evaluate), "the Evaluate call names its job"
    # watches are not traced: the tracing wrapper would make each open watch hold a gateway thread
    assert not [s for s in collector.spans if s["name"].endswith("GatewayService/WatchJob")]
