"""Gateway: the only public service. Uploads, dataset import, jobs, watch streams, results.

Uploads are spooled to a temporary file while hashed (memory stays bounded),
checked against the announced size and sha256, and only then stored under
their digest, so a partial upload is never visible and the same archive is
never stored twice. Evaluate checks the request synchronously (unknown
benchmark, dataset or submission -> an error now, not a failed job later),
records a job and returns its id at once; the runner does the work.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zipfile
from pathlib import Path

import grpc
import structlog
from google.rpc import code_pb2, error_details_pb2, status_pb2

from zrc.common import runtime
from zrc.common.data import (
    BadRequest,
    archive_key,
    dataset_manifest_key,
    finding_to_pb,
    selection_from_dict,
    selection_to_dict,
)
from zrc.common.v1 import common_pb2
from zrc.core import jobs
from zrc.core.benchmarks import get_benchmark
from zrc.core.dataset import gold_files, load_dataset
from zrc.core.params import Params
from zrc.core.pipeline import SelectionError, select
from zrc.core.sources import ZipTree
from zrc.gateway.runner import Clients, Runner, RunnerSettings
from zrc.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from zrc.results.v1 import results_pb2
from zrc.storage import DATASETS, SUBMISSIONS, NotFound, Storage, from_env
from zrc.validation.v1 import validation_pb2

log = structlog.get_logger("zrc.gateway")
MAX_UPLOAD = 64 << 30
_STATE = {jobs.QUEUED: gateway_pb2.JOB_STATE_QUEUED, jobs.VALIDATING: gateway_pb2.JOB_STATE_VALIDATING,
          jobs.SCORING: gateway_pb2.JOB_STATE_SCORING, jobs.SUCCEEDED: gateway_pb2.JOB_STATE_SUCCEEDED,
          jobs.INVALID: gateway_pb2.JOB_STATE_INVALID, jobs.FAILED: gateway_pb2.JOB_STATE_FAILED}


def job_to_pb(job: jobs.Job) -> gateway_pb2.Job:
    return gateway_pb2.Job(job_id=job.job_id, state=_STATE[job.state], selection=selection_from_dict(job.selection),
                           skip_validation=job.skip_validation, findings=[finding_to_pb(f) for f in job.findings],
                           failure_reason=job.failure_reason, parts_done=len(job.done), parts_total=len(job.parts),
                           created_at=job.created_at, updated_at=job.updated_at)


def event_to_pb(e: dict) -> gateway_pb2.JobEvent:
    return gateway_pb2.JobEvent(seq=e["seq"], state=_STATE[e["state"]], message=e["message"], task=e["task"],
                                set=e["set"], at=e["at"])


def _spool(request_iterator, first_kind: str, tmpdir: str | None):
    """Metadata message first, then chunks into a temp file; returns (metadata, path, size, sha256)."""
    it = iter(request_iterator)
    try:
        first = next(it)
    except StopIteration:
        raise BadRequest("empty upload: send the metadata message first") from None
    if first.WhichOneof("payload") != "metadata":
        raise BadRequest(f"the first message must carry {first_kind} metadata, not bytes")
    meta = first.metadata
    if meta.size < 0 or meta.size > MAX_UPLOAD:
        raise BadRequest(f"announced size {meta.size} is out of range")
    h = hashlib.sha256()
    size = 0
    fd, path = tempfile.mkstemp(prefix="zrc-upload-", dir=tmpdir)
    try:
        with os.fdopen(fd, "wb") as fh:
            for msg in it:
                if msg.WhichOneof("payload") != "chunk":
                    raise BadRequest("metadata may only be sent once, first")
                size += len(msg.chunk)
                if size > meta.size:
                    raise BadRequest(f"more bytes than the announced {meta.size}")
                h.update(msg.chunk)
                fh.write(msg.chunk)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    digest = h.hexdigest()
    if size != meta.size:
        Path(path).unlink(missing_ok=True)
        raise BadRequest(f"upload incomplete: received {size} of {meta.size} bytes; nothing was stored")
    if meta.sha256 and meta.sha256.lower() != digest:
        Path(path).unlink(missing_ok=True)
        raise BadRequest("sha256 mismatch: the archive was corrupted in transit; nothing was stored")
    return meta, path, size, digest


class GatewayServicer(gateway_pb2_grpc.GatewayServiceServicer):
    def __init__(self, storage: Storage, clients: Clients, runner: Runner, tmpdir: str | None = None):
        self.storage, self.c, self.runner, self.tmpdir = storage, clients, runner, tmpdir

    # uploads ------------------------------------------------------------------------------------------
    def UploadSubmission(self, request_iterator, context):
        meta, path, size, digest = _spool(request_iterator, "upload", self.tmpdir)
        structlog.contextvars.bind_contextvars(submission=digest[:12])
        try:
            if not zipfile.is_zipfile(path):
                raise BadRequest("the submission archive is not a zip file")
            key = archive_key(digest)
            if self.storage.exists(SUBMISSIONS, key):
                log.info("upload_deduplicated", size=size)
                return gateway_pb2.UploadSubmissionResponse(digest=digest, size=size, created=False)
            with open(path, "rb") as fh:
                self.storage.put_file(SUBMISSIONS, key, fh, size)
            log.info("upload_stored", size=size)
            return gateway_pb2.UploadSubmissionResponse(digest=digest, size=size, created=True)
        finally:
            Path(path).unlink(missing_ok=True)

    def ImportDataset(self, request_iterator, context):
        meta, path, size, digest = _spool(request_iterator, "dataset", self.tmpdir)
        name = meta.name
        manifest_key = dataset_manifest_key(name)
        try:
            tree = ZipTree(path, label=name)
            try:
                dataset = load_dataset(tree, name=name).load_all()
                bench, files = gold_files(tree)
            finally:
                tree.close()
        finally:
            Path(path).unlink(missing_ok=True)
        content = hashlib.sha256()
        for rel in sorted(files):
            content.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
        ds_digest = content.hexdigest()
        for rel, data in files.items():
            self.storage.put_bytes(DATASETS, f"{name}/files/{rel}", data)
        info = {"name": name, "benchmark": bench.name, "parts": [f"{t} {s}" for t, s in dataset.available],
                "digest": ds_digest, "size": sum(len(d) for d in files.values())}
        self.storage.put_json(DATASETS, manifest_key, info)  # written last: the commit point
        log.info("dataset_imported", dataset=name, parts=len(info["parts"]))
        return gateway_pb2.ImportDatasetResponse(dataset=gateway_pb2.DatasetInfo(**info), notes=dataset.notes)

    def ListDatasets(self, request, context):
        out = []
        for key in self.storage.list(DATASETS):
            if key.endswith("/manifest.json") and key.count("/") == 1:
                out.append(gateway_pb2.DatasetInfo(**self.storage.get_json(DATASETS, key)))
        return gateway_pb2.ListDatasetsResponse(datasets=out)

    def ValidateSubmission(self, request, context):
        self._check_selection(request.selection)
        v = self.c.call(self.c.validation.Validate, validation_pb2.ValidateRequest(selection=request.selection),
                        timeout=self.c.s.call_timeout)
        params = Params.from_json(v.params_json)
        return gateway_pb2.ValidateSubmissionResponse(ok=v.ok, findings=v.findings, params_yaml=params.to_yaml())

    # jobs ---------------------------------------------------------------------------------------------
    def _check_selection(self, sel) -> tuple[str, list[str], list[str], str, dict]:
        """Reject a bad request now, synchronously, rather than as a failed job later."""
        try:
            bench = get_benchmark(sel.benchmark)
        except KeyError as exc:
            raise SelectionError(str(exc.args[0])) from None
        sets, tasks = select(bench, list(sel.sets) or None, list(sel.tasks) or None)
        ds_name = sel.dataset or bench.dataset
        try:
            man = self.storage.get_json(DATASETS, dataset_manifest_key(ds_name))
        except NotFound:
            raise NotFound(f"dataset {ds_name} is not imported (zrc datasets:import)") from None
        if man["benchmark"] != bench.name:
            raise SelectionError(f"dataset {ds_name} is a {man['benchmark']} dataset, not {bench.name}")
        if not self.storage.exists(SUBMISSIONS, archive_key(sel.submission_digest)):
            raise NotFound(f"submission {sel.submission_digest[:12]} was not uploaded")
        return bench.name, sets, tasks, ds_name, man

    def Evaluate(self, request, context):
        sel = request.selection
        bench, sets, tasks, ds_name, man = self._check_selection(sel)
        selection = selection_to_dict(sel)
        selection.update(benchmark=bench, dataset=ds_name, sets=sets, tasks=tasks)
        job = jobs.Job.new(selection, request.skip_validation)
        job.dataset_digest = man["digest"]
        structlog.contextvars.bind_contextvars(job_id=job.job_id, submission=sel.submission_digest[:12])
        self.c.put_job(job)
        self.runner.submit(job.job_id)
        log.info("job_created", benchmark=bench, sets=sets, tasks=tasks)
        return gateway_pb2.EvaluateResponse(job_id=job.job_id)

    def _job(self, job_id: str) -> jobs.Job:
        try:
            return self.c.get_job(job_id)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"job {job_id}") from None
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise BadRequest(f"invalid job id {job_id!r}") from None
            raise

    def GetJob(self, request, context):
        return gateway_pb2.GetJobResponse(job=job_to_pb(self._job(request.job_id)))

    def ListJobs(self, request, context):
        r = self.c.call(self.c.results.ListJobs, results_pb2.ListJobsRequest(unfinished_only=False))
        js = sorted((jobs.Job.from_dict(json.loads(j)) for j in r.job_json), key=lambda j: j.created_at)
        return gateway_pb2.ListJobsResponse(jobs=[job_to_pb(j) for j in js])

    def WatchJob(self, request, context):
        structlog.contextvars.bind_contextvars(job_id=request.job_id)
        seen = request.after_seq
        while context.is_active():
            job = self._job(request.job_id)
            new = [e for e in job.events if e["seq"] > seen]
            for i, e in enumerate(new):
                last = job.final and i == len(new) - 1
                yield gateway_pb2.WatchJobResponse(event=event_to_pb(e), job=job_to_pb(job) if last else None)
                seen = e["seq"]
            if job.final:
                if not new:
                    yield gateway_pb2.WatchJobResponse(job=job_to_pb(job))
                return
            time.sleep(0.2)

    def GetScores(self, request, context):
        job = self._job(request.job_id)
        if job.state == jobs.INVALID:
            detail = error_details_pb2.BadRequest(field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=f"{f.get('file') or 'submission'}{':' + str(f['line']) if f.get('line') else ''}",
                    description=f"{f['message']} [{f['code']}]")
                for f in job.findings if f["severity"] == "error"][:100])
            st = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT,
                                   message=f"job {job.job_id} found the submission invalid")
            st.details.add().Pack(detail)
            raise runtime.Abort(grpc.StatusCode.INVALID_ARGUMENT, st.message, rich=st)
        if job.state == jobs.FAILED:
            raise runtime.Abort(grpc.StatusCode.FAILED_PRECONDITION, f"job failed: {job.failure_reason}")
        if job.state != jobs.SUCCEEDED:
            raise runtime.Abort(grpc.StatusCode.FAILED_PRECONDITION, f"job is {job.state}, not finished yet")
        files = []
        for key in job.done.values():
            r = self.c.call(self.c.results.GetResult, results_pb2.GetResultRequest(key=key)).result
            files.extend(common_pb2.File(name=f.name, content=f.content) for f in r.files)
        entry = self.c.call(self.c.results.GetEntry, results_pb2.GetEntryRequest(job_id=job.job_id)).entry_json
        return gateway_pb2.GetScoresResponse(files=sorted(files, key=lambda f: f.name), leaderboard_json=entry,
                                             job=job_to_pb(job))


def build(storage: Storage, env: dict[str, str]):
    """Clients, runner and a register function from the gateway's environment."""
    scorers = {t: runtime.env_addr(env, f"ZRC_SCORER_{t.upper()}_ADDR")
               for t in ("lexical", "syntactic", "semantic", "prosaudit")}
    settings = RunnerSettings(
        lease_seconds=runtime.env_float(env, "ZRC_JOB_LEASE_SECONDS", 30.0),
        retry_budget=runtime.env_float(env, "ZRC_RETRY_BUDGET_SECONDS", 180.0),
        workers=runtime.env_int(env, "ZRC_JOB_WORKERS", 2),
        reap_every=runtime.env_float(env, "ZRC_REAP_SECONDS", 5.0),
    )
    clients = Clients(runtime.env_addr(env, "ZRC_VALIDATION_ADDR"), runtime.env_addr(env, "ZRC_RESULTS_ADDR"),
                      scorers, settings)
    runner = Runner(clients, settings, owner=env.get("ZRC_GATEWAY_ID") or None)

    def reg(server) -> list[str]:
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server(
            GatewayServicer(storage, clients, runner, env.get("ZRC_TMPDIR") or None), server)
        return [gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name]
    return reg, runner, clients


def main(env: dict[str, str] | None = None) -> None:
    env = dict(os.environ if env is None else env)
    runtime.configure_logging("gateway")
    base = runtime.BaseSettings.base(env)
    storage = from_env(env)
    reg, runner, clients = build(storage, env)
    runner.start()
    runtime.serve("gateway", reg, base["listen"], base["grace"], base["workers"], storage, on_stop=runner.shutdown)
