"""Results service: cached task results, leaderboard entries and job records in the results bucket.

Keys (``zrc.storage.keys``): ``results/<key>.json.gz``, ``entries/<job_id>.json``, ``jobs/<job_id>.json``
and ``open/<job_id>`` markers for unfinished jobs (so listing them does not scan history).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import structlog
from google.protobuf import json_format

from zrc.common import runtime
from zrc.common.convert import entry_pb, entry_py, job_pb, job_py, summary_pb, summary_py
from zrc.common.data import decode_result, encode_result
from zrc.core.benchmarks import get_benchmark
from zrc.core.errors import InvalidArgument
from zrc.core.jobs import Job, JobConflict
from zrc.lazy import lazy_module
from zrc.pb.common.v1 import common_pb2
from zrc.pb.results.v1 import results_pb2, results_pb2_grpc
from zrc.storage import RESULTS, NotFound, PreconditionFailed, Storage, keys

if TYPE_CHECKING:
    from zrc.core import leaderboard
else:   # numpy: loaded by the first entry written, not by a results service that only reads
    leaderboard = lazy_module("zrc.core.leaderboard")

log = structlog.get_logger("zrc.results")


def _benchmark(name: str) -> str:
    return get_benchmark(name).name


class ResultsServicer(results_pb2_grpc.ResultsServiceServicer):
    def __init__(self, storage: Storage):
        self.storage = storage

    def GetResult(self, request, context):
        key = request.key
        try:
            d = decode_result(self.storage.get_bytes(RESULTS, keys.result(key)))
        except NotFound:   # stored before results were compressed
            d = self.storage.get_json(RESULTS, keys.result(key, legacy=True))
        out = results_pb2.TaskResult(key=d["key"], task=d["task"], set=d["set"], scorer_version=d["scorer_version"],
                                     files=[common_pb2.File(name=n, content=c.encode()) for n, c in d["files"].items()])
        if "validation" in d:
            json_format.ParseDict(d["validation"], out.validation)
        else:
            out.summary.CopyFrom(summary_pb(json.loads(d["summary_json"])))
        return results_pb2.GetResultResponse(result=out)

    def PutResult(self, request, context):
        """Stored as before typed protos (the summary as JSON text), so older stores stay readable."""
        r = request.result
        d = {"key": r.key, "task": r.task, "set": r.set, "scorer_version": r.scorer_version,
             "files": {f.name: f.content.decode() for f in r.files}}
        if r.HasField("validation"):
            d["validation"] = json_format.MessageToDict(r.validation)
        else:
            d["summary_json"] = json.dumps(summary_py(r.summary), allow_nan=False)
        # score CSVs compress ~4x: a full-size evaluation leaves ~2 MB instead of ~7 MB (ZRC_HOME stays small)
        self.storage.put_bytes(RESULTS, keys.result(r.key), encode_result(d))
        return results_pb2.PutResultResponse()

    def PutJob(self, request, context):
        jid = request.job.job_id
        key = keys.job(jid)   # checks the id first
        if not request.job.state:
            raise InvalidArgument(f"job {jid}: the record has no state")
        record = job_py(request.job)
        job = Job.from_dict(record)
        structlog.contextvars.bind_contextvars(job_id=jid)
        data = json.dumps(record).encode()
        if request.conditional:
            self._compare_and_set(key, data, job, request.expected_revision)
        else:
            self.storage.put_bytes(RESULTS, key, data)
        if job.final:
            self.storage.delete(RESULTS, keys.open_marker(job.job_id))
        else:
            self.storage.put_bytes(RESULTS, keys.open_marker(job.job_id), b"")
        return results_pb2.PutJobResponse()

    def _compare_and_set(self, key: str, data: bytes, job: Job, expected: int) -> None:
        """Store ``data`` only if the stored record has revision ``expected`` (exactly one of several
        concurrent writers wins: conditional writes of the store, If-None-Match / If-Match)."""
        if job.revision != expected + 1:
            raise InvalidArgument(f"job revision {job.revision} does not follow the expected revision {expected}")
        try:
            stored, etag = self.storage.get_with_etag(RESULTS, key)
        except NotFound:
            if expected == 0 and self.storage.put_if_absent(RESULTS, key, data):
                return
            raise JobConflict(f"job {job.job_id}: expected revision {expected}, but it was written "
                              "by another writer") from None
        have = int(json.loads(stored).get("revision", 0))
        if have == expected + 1 and stored == data:
            return   # the same write again (a retried call whose answer was lost): done already
        if have != expected:
            raise JobConflict(f"job {job.job_id}: revision {have} is stored, not {expected}: another gateway "
                              "changed it")
        try:
            self.storage.put_if_match(RESULTS, key, data, etag)
        except PreconditionFailed:
            raise JobConflict(f"job {job.job_id} changed while it was being written") from None

    def GetJob(self, request, context):
        try:
            data = self.storage.get_bytes(RESULTS, keys.job(request.job_id))
        except NotFound:
            raise NotFound(f"job {request.job_id}") from None
        return results_pb2.GetJobResponse(job=job_pb(json.loads(data)))

    def ListJobs(self, request, context):
        """Job records in job id order; paged (``page_size``) and as summaries on request, so that a listing
        stays small whatever the jobs carry."""
        prefix = keys.OPEN if request.unfinished_only else keys.JOBS
        ids = sorted(key[len(prefix):].removesuffix(".json") for key in self.storage.list(RESULTS, prefix))
        if request.page_token:
            ids = [j for j in ids if j > request.page_token]
        size = request.page_size if request.page_size > 0 else len(ids)
        page, more = ids[:size], len(ids) > size
        out = []
        for jid in page:
            try:
                data = self.storage.get_bytes(RESULTS, keys.job(jid)).decode()
            except NotFound:
                continue
            out.append(job_pb(_summary(data) if request.summaries else json.loads(data)))
        return results_pb2.ListJobsResponse(jobs=out, next_page_token=page[-1] if more and page else "")

    def PutEntry(self, request, context):
        self.storage.put_bytes(RESULTS, keys.entry(request.job_id),
                               leaderboard.dumps(entry_py(request.entry)).encode())
        return results_pb2.PutEntryResponse()

    def PublishEntry(self, request, context):
        bench = _benchmark(request.benchmark)
        self.storage.put_bytes(RESULTS, keys.leaderboard_entry(bench, request.entry_id),
                               leaderboard.dumps(entry_py(request.entry)).encode())
        return results_pb2.PublishEntryResponse()

    def ListLeaderboard(self, request, context):
        bench = _benchmark(request.benchmark)
        return results_pb2.ListLeaderboardResponse(
            entries=[entry_pb(json.loads(self.storage.get_bytes(RESULTS, k)))
                     for k in self.storage.list(RESULTS, keys.leaderboard(bench))])

    def GetEntry(self, request, context):
        data = self.storage.get_bytes(RESULTS, keys.entry(request.job_id))
        return results_pb2.GetEntryResponse(entry=entry_pb(json.loads(data)))


def _summary(record: str) -> dict:
    """A job record without its findings and events (their counts instead)."""
    d = json.loads(record)
    d["findings_count"] = len(d.pop("findings", None) or [])
    d["events_count"] = len(d.pop("events", None) or [])
    return d


def register(storage: Storage):
    def reg(server) -> list[str]:
        results_pb2_grpc.add_ResultsServiceServicer_to_server(ResultsServicer(storage), server)
        return [results_pb2.DESCRIPTOR.services_by_name["ResultsService"].full_name]
    return reg


def main(env: dict[str, str] | None = None) -> None:
    runtime.run_service("results", lambda storage, _env: {"register": register(storage)}, env,
                        internal=True)
