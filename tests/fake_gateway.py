"""A scripted gateway for client-side tests: what a real one does when it restarts or flaps, on demand."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc

from zrc.common.convert import entry_pb, stamp_pb
from zrc.pb.common.v1 import common_pb2
from zrc.pb.gateway.v1 import gateway_pb2, gateway_pb2_grpc

ENTRY = {"scores": {"lexical": {"all": {"dev": 0.5, "test": None}}}}


def job(job_id: str, state: int, created: str = "2026-01-01T00:00:00Z", benchmark: str = "sLM21"):
    return gateway_pb2.Job(job_id=job_id, state=state, created_at=stamp_pb(created), updated_at=stamp_pb(created),
                           selection=common_pb2.Selection(benchmark=benchmark, sets=["dev"], tasks=["lexical"]),
                           parts_done=1 if state == gateway_pb2.JOB_STATE_SUCCEEDED else 0, parts_total=1)


class FakeGateway(gateway_pb2_grpc.GatewayServiceServicer):
    """``fail[method] = n``: the next n calls of ``method`` answer UNAVAILABLE (a gateway restarting).
    ``hang_watch``: WatchJob sends one event, then holds the stream open until the server goes away."""

    def __init__(self):
        self.fail: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.hang_watch = False
        self.quota: dict[str, int] | None = None   # None: WhoAmI is not offered (UNIMPLEMENTED)
        self.jobs = {"job-1": job("job-1", gateway_pb2.JOB_STATE_SUCCEEDED)}
        self.files = {"score_lexical_dev_by_pair.csv": b"a,b\n1,2\n"}

    def _enter(self, method: str, context) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.fail.get(method):
            self.fail[method] -= 1
            context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")

    def WhoAmI(self, request, context):
        self._enter("WhoAmI", context)
        if self.quota is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")
        return gateway_pb2.WhoAmIResponse(user="alice", quota_left=self.quota, quota_resets_at=stamp_pb("2026-01-02T00:00:00Z"))

    def ListDatasets(self, request, context):
        self._enter("ListDatasets", context)
        return gateway_pb2.ListDatasetsResponse(datasets=[gateway_pb2.DatasetInfo(name="sLM21-dataset",
                                                                                  benchmark="sLM21")])

    def GetUpload(self, request, context):
        self._enter("GetUpload", context)
        return gateway_pb2.GetUploadResponse(stored=True)

    def Evaluate(self, request, context):
        self._enter("Evaluate", context)
        return gateway_pb2.EvaluateResponse(job_id="job-1")

    def WatchJob(self, request, context):
        self._enter("WatchJob", context)
        yield gateway_pb2.WatchJobResponse(event=gateway_pb2.JobEvent(seq=request.after_seq + 1, message="scoring",
                                                                      state=gateway_pb2.JOB_STATE_SCORING))
        if self.hang_watch:
            while context.is_active():
                time.sleep(0.05)
            return
        yield gateway_pb2.WatchJobResponse(job=self.jobs[request.job_id])

    def GetJob(self, request, context):
        self._enter("GetJob", context)
        if request.job_id not in self.jobs:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no job {request.job_id}")
        return gateway_pb2.GetJobResponse(job=self.jobs[request.job_id])

    def ListJobs(self, request, context):
        self._enter("ListJobs", context)
        return gateway_pb2.ListJobsResponse(jobs=list(self.jobs.values()))

    def GetScores(self, request, context):
        self._enter("GetScores", context)
        j = self.jobs.get(request.job_id)
        if j is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no job {request.job_id}")
        if j.state != gateway_pb2.JOB_STATE_SUCCEEDED:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"job {request.job_id} has not finished")
        return gateway_pb2.GetScoresResponse(
            files=[common_pb2.File(name=n, content=c) for n, c in self.files.items()],
            entry=entry_pb(ENTRY), job=j)


class Server:
    """The fake on a fixed port, which can be stopped and started again (a restart)."""

    def __init__(self, servicer: FakeGateway, port: int = 0):
        self.servicer = servicer
        self.port = port
        self.server = None
        self.lock = threading.Lock()

    def start(self) -> Server:
        with self.lock:
            self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
            gateway_pb2_grpc.add_GatewayServiceServicer_to_server(self.servicer, self.server)
            self.port = self.server.add_insecure_port(f"127.0.0.1:{self.port}")
            self.server.start()
        return self

    def stop(self) -> None:
        with self.lock:
            if self.server is not None:
                self.server.stop(0).wait(5)
                self.server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"
