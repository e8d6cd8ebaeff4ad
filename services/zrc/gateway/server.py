"""Gateway: the only public service. Uploads, dataset import, jobs, watch streams, results.

Uploads are spooled to a temporary file while hashed (memory stays bounded),
checked against the announced size and sha256, and only then stored under
their digest, so a partial upload is never visible and the same archive is
never stored twice. Evaluate checks the request synchronously (unknown
benchmark, dataset or submission -> an error now, not a failed job later),
records a job and returns its id at once; the runner does the work.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
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
from zrc.core.benchmarks import BENCHMARKS, get_benchmark
from zrc.core.dataset import gold_files, load_dataset
from zrc.core.limits import quoted
from zrc.core.params import Params
from zrc.core.pipeline import SelectionError, select
from zrc.core.sources import ZipTree
from zrc.gateway.auth import Auth, AuthInterceptor, current, next_reset
from zrc.gateway.runner import Clients, Runner, RunnerSettings, version_label
from zrc.gateway.streams import StreamGuard
from zrc.gateway.sweeper import RetentionSettings, Sweeper
from zrc.gateway.uploads import Uploads
from zrc.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from zrc.results.v1 import results_pb2
from zrc.scoring.v1 import scoring_pb2
from zrc.storage import DATASETS, SUBMISSIONS, NotFound, Storage
from zrc.validation.v1 import validation_pb2

log = structlog.get_logger("zrc.gateway")
MAX_DATASET_UPLOAD = 1 << 30   # gold-file archives (submission limits: uploads.py)
_STATE = {jobs.QUEUED: gateway_pb2.JOB_STATE_QUEUED, jobs.VALIDATING: gateway_pb2.JOB_STATE_VALIDATING,
          jobs.SCORING: gateway_pb2.JOB_STATE_SCORING, jobs.SUCCEEDED: gateway_pb2.JOB_STATE_SUCCEEDED,
          jobs.INVALID: gateway_pb2.JOB_STATE_INVALID, jobs.FAILED: gateway_pb2.JOB_STATE_FAILED}


def job_to_pb(job: jobs.Job) -> gateway_pb2.Job:
    return gateway_pb2.Job(job_id=job.job_id, state=_STATE[job.state], selection=selection_from_dict(job.selection),
                           skip_validation=job.skip_validation, findings=[finding_to_pb(f) for f in job.findings],
                           failure_reason=job.failure_reason, parts_done=len(job.done), parts_total=len(job.parts),
                           created_at=job.created_at, updated_at=job.updated_at, owner=job.owner,
                           publish=job.publish, model_id=job.model_id, findings_count=len(job.findings))


def _page_token(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps([d["created_at"], d["job_id"]]).encode()).decode()


def _page_after(token: str) -> tuple[str, str]:
    try:
        created, job_id = json.loads(base64.urlsafe_b64decode(token.encode()[:400]))
        return str(created), str(job_id)
    except (ValueError, TypeError):
        raise BadRequest("page_token is not one this server returned") from None


def event_to_pb(e: dict) -> gateway_pb2.JobEvent:
    return gateway_pb2.JobEvent(seq=e["seq"], state=_STATE[e["state"]], message=e["message"], task=e["task"],
                                set=e["set"], at=e["at"])


def _first(request_iterator, kind: str):
    """The metadata message that must open an upload stream, and the iterator over the rest."""
    it = iter(request_iterator)
    try:
        first = next(it)
    except StopIteration:
        raise BadRequest("empty upload: send the metadata message first") from None
    if first.WhichOneof("payload") != "metadata":
        raise BadRequest(f"the first message must carry {kind} metadata, not bytes")
    return first.metadata, it


def _spool_to_file(request_iterator, first_kind: str, tmpdir: str | None):
    """Metadata message first, then chunks into a temp file; returns (metadata, path, size, sha256)."""
    meta, it = _first(request_iterator, first_kind)
    if meta.size < 0 or meta.size > MAX_DATASET_UPLOAD:
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


class _Admin:
    """Leaderboards, identity and admin RPCs (mixed into GatewayServicer)."""

    def GetLeaderboard(self, request, context):
        try:
            bench = get_benchmark(request.benchmark).name
        except KeyError as exc:
            raise SelectionError(str(exc.args[0])) from None
        r = self.c.call(self.c.results.ListLeaderboard, results_pb2.ListLeaderboardRequest(benchmark=bench))
        return gateway_pb2.GetLeaderboardResponse(entries_json=list(r.entries_json))

    def WhoAmI(self, request, context):
        who = current.get()
        left = {b: self.auth.quota_left(who, b, self._job_state) for b in BENCHMARKS}
        return gateway_pb2.WhoAmIResponse(user=who.user, admin=who.admin, quota_left=left,
                                          quota_resets_at=next_reset(self.auth.clock()))

    def CreateUser(self, request, context):
        self.auth.require_admin(current.get(), "creating users")
        self.auth.create_user(request.name, request.admin)
        return gateway_pb2.CreateUserResponse()

    def CreateToken(self, request, context):
        self.auth.require_admin(current.get(), "issuing tokens")
        return gateway_pb2.CreateTokenResponse(token=self.auth.create_token(request.user))

    def RevokeToken(self, request, context):
        self.auth.require_admin(current.get(), "revoking tokens")
        self.auth.revoke(request.token)
        return gateway_pb2.RevokeTokenResponse()

    def Rescore(self, request, context):
        """Re-evaluate published entries scored by another scorer version; each new job replaces its entry."""
        who = current.get()
        self.auth.require_admin(who, "re-scoring")
        bench = get_benchmark(request.benchmark)
        versions = {t: self.c.call(self.c.scorers["prosaudit" if t == "english" else t].Describe,
                                   scoring_pb2.DescribeRequest()).scorer_version for t in bench.task_names}
        current_version = version_label(bench.task_names, versions)
        r = self.c.call(self.c.results.ListLeaderboard, results_pb2.ListLeaderboardRequest(benchmark=bench.name))
        job_ids = []
        for text in r.entries_json:
            e = json.loads(text)
            z = e.get("zrc") or {}
            if z.get("scorer_version") == current_version or not z.get("submission_digest"):
                continue
            selection = {"submission_digest": z["submission_digest"], "benchmark": bench.name,
                         "dataset": z.get("dataset", ""), "sets": ["dev", "test"], "tasks": list(bench.task_names)}
            job = jobs.Job.new(selection, False, owner=z.get("owner", ""), publish=True,
                               baseline=bool(z.get("baseline")), model_id=e.get("model_id") or "",
                               replaces_entry=z["entry_id"])
            self.c.put_job(job)
            self.runner.submit(job.job_id)
            job_ids.append(job.job_id)
        log.info("rescore", benchmark=bench.name, jobs=len(job_ids))
        return gateway_pb2.RescoreResponse(job_ids=job_ids)


class GatewayServicer(_Admin, gateway_pb2_grpc.GatewayServiceServicer):
    def __init__(self, storage: Storage, clients: Clients, runner: Runner, auth: Auth, tmpdir: str | None = None,
                 streams: StreamGuard | None = None):
        self.storage, self.c, self.runner, self.auth, self.tmpdir = storage, clients, runner, auth, tmpdir
        self.uploads = Uploads(storage)
        self.streams = streams or StreamGuard()

    # uploads ------------------------------------------------------------------------------------------
    def GetUpload(self, request, context):
        digest = request.sha256.lower()
        if self.uploads.stored(digest):
            self.auth.add_owner(digest, current.get())  # holding the bytes proves nothing is leaked
            return gateway_pb2.GetUploadResponse(stored=True)
        return gateway_pb2.GetUploadResponse(committed=self.uploads.committed(digest))

    def UploadSubmission(self, request_iterator, context):
        who = current.get()
        with self.streams.open(who.user, "upload"):
            return self._upload(self.streams.idle_limited(request_iterator, context), who)

    def _upload(self, request_iterator, who):
        meta, rest = _first(request_iterator, "upload")
        digest = meta.sha256.lower()
        structlog.contextvars.bind_contextvars(submission=digest[:12])
        if self.uploads.stored(digest):
            for _ in rest:  # already here: nothing stored twice
                pass
            self.auth.add_owner(digest, who)
            return gateway_pb2.UploadSubmissionResponse(digest=digest, size=meta.size, created=False)
        held, streamed_sha = self.uploads.receive(meta, rest)
        if held < meta.size:
            raise runtime.Abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"upload incomplete: the server holds {held} of {meta.size} bytes; "
                                f"resume from {held} (nothing is visible until complete)")
        self.uploads.finish(digest, meta.size, streamed_sha)
        self.auth.add_owner(digest, who)
        log.info("upload_stored", size=meta.size, resumed_from=meta.offset)
        return gateway_pb2.UploadSubmissionResponse(digest=digest, size=meta.size, created=True)

    def ImportDataset(self, request_iterator, context):
        self.auth.require_admin(current.get(), "importing a dataset")
        with self.streams.open(current.get().user, "import"):
            meta, path, size, digest = _spool_to_file(self.streams.idle_limited(request_iterator, context),
                                                      "dataset", self.tmpdir)
        name = meta.name
        manifest_key = dataset_manifest_key(name)
        try:
            tree = ZipTree(path, label=name, trusted=True)   # admin-only: the gold files of a dataset
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
        self.auth.check_owner(request.selection.submission_digest, current.get())
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
            raise NotFound(f"dataset {ds_name} is not imported") from None
        if man["benchmark"] != bench.name:
            raise SelectionError(f"dataset {ds_name} is a {man['benchmark']} dataset, not {bench.name}")
        if not self.storage.exists(SUBMISSIONS, archive_key(sel.submission_digest)):
            raise NotFound(f"submission {sel.submission_digest[:12]} was not uploaded")
        return bench.name, sets, tasks, ds_name, man

    def Evaluate(self, request, context):
        sel = request.selection
        who = current.get()
        bench, sets, tasks, ds_name, man = self._check_selection(sel)
        self.auth.check_owner(sel.submission_digest, who)
        if request.baseline:
            self.auth.require_admin(who, "publishing a baseline")
        if request.publish and (sets != ["dev", "test"] or tasks != list(get_benchmark(bench).task_names)
                                or request.skip_validation):
            raise BadRequest("a published submission is evaluated on every set and task, with validation")
        selection = selection_to_dict(sel)
        selection.update(benchmark=bench, dataset=ds_name, sets=sets, tasks=tasks)
        job = jobs.Job.new(selection, request.skip_validation, owner=who.user, publish=request.publish,
                           baseline=request.baseline)
        job.dataset_digest = man["digest"]
        structlog.contextvars.bind_contextvars(job_id=job.job_id, submission=sel.submission_digest[:12])
        self.auth.charge(who, bench, job.job_id, self._job_state)
        self.c.put_job(job)
        self.runner.submit(job.job_id)
        log.info("job_created", benchmark=bench, sets=sets, tasks=tasks, publish=request.publish, user=who.user)
        return gateway_pb2.EvaluateResponse(job_id=job.job_id)

    def _job_state(self, job_id: str) -> str | None:
        try:
            return self.c.get_job(job_id).state
        except grpc.RpcError:
            return None

    def _job(self, job_id: str) -> jobs.Job:
        try:
            return self.c.get_job(job_id)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"job {job_id}") from None
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise BadRequest(f"invalid job id {quoted(job_id)}") from None
            raise

    def _own_job(self, job_id: str) -> jobs.Job:
        job = self._job(job_id)
        self.auth.check_job(job, current.get())
        return job

    def GetJob(self, request, context):
        return gateway_pb2.GetJobResponse(job=job_to_pb(self._own_job(request.job_id)))

    def ListJobs(self, request, context):
        """The caller's jobs, oldest first, a page at a time, as summaries: one job with megabytes of
        findings can no longer make the listing fail for everyone."""
        who = current.get()
        if request.page_size < 0:
            raise BadRequest(f"page_size must be positive, got {request.page_size}")
        size = min(request.page_size or 100, 1000)
        rows = [d for d in self.c.job_summaries() if who.admin or d.get("owner") == who.user]
        rows.sort(key=lambda d: (d["created_at"], d["job_id"]))
        if request.page_token:
            after = _page_after(request.page_token)
            rows = [d for d in rows if (d["created_at"], d["job_id"]) > after]
        page = rows[:size]
        token = _page_token(page[-1]) if len(rows) > size else ""
        out = []
        for d in page:
            pb = job_to_pb(jobs.Job.from_dict(d))
            pb.findings_count = int(d.get("findings_count", 0))
            out.append(pb)
        return gateway_pb2.ListJobsResponse(jobs=out, next_page_token=token)

    def WatchJob(self, request, context):
        """Events until the job ends, or until ``ZRC_WATCH_SECONDS`` pass: the stream then ends without a
        final job and the client reconnects after the last event it saw (a stalled job pins no thread)."""
        structlog.contextvars.bind_contextvars(job_id=request.job_id)
        self._own_job(request.job_id)
        with self.streams.open(current.get().user, "watch"):
            yield from self._watch(request, context)

    def _watch(self, request, context):
        seen = request.after_seq
        until = time.monotonic() + self.streams.watch_seconds
        pause = 0.2
        while context.is_active() and time.monotonic() < until:
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
            pause = 0.2 if new else min(pause * 1.5, 2.0)   # a quiet job is polled less and less often
            time.sleep(pause)

    def GetScores(self, request, context):
        job = self._own_job(request.job_id)
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
        max_attempts=runtime.env_int(env, "ZRC_JOB_MAX_ATTEMPTS", 6),
        max_crashes=runtime.env_int(env, "ZRC_JOB_MAX_CRASHES", 2),
        adopt_orphans=env.get("ZRC_ADOPT_ORPHANS", "1") != "0",
    )
    clients = Clients(runtime.env_addr(env, "ZRC_VALIDATION_ADDR"), runtime.env_addr(env, "ZRC_RESULTS_ADDR"),
                      scorers, settings)
    runner = Runner(clients, settings, owner=env.get("ZRC_GATEWAY_ID") or None)
    mode = env.get("ZRC_AUTH", "required")
    if mode not in ("required", "off"):
        raise runtime.ConfigError(f"ZRC_AUTH must be required or off, got {mode!r}")
    admin_token = env.get("ZRC_ADMIN_TOKEN") or None
    if mode == "required" and (not admin_token or len(admin_token) < 16):
        raise runtime.ConfigError("ZRC_ADMIN_TOKEN (at least 16 characters) is required when ZRC_AUTH=required")
    auth = Auth(storage, required=mode == "required", admin_token=admin_token,
                quota_per_day=runtime.env_int(env, "ZRC_QUOTA_PER_DAY", 0),
                invalid_per_day=runtime.env_int(env, "ZRC_INVALID_PER_DAY", 50))

    workers = runtime.env_int(env, "ZRC_WORKERS", 8)
    streams = StreamGuard(per_user=runtime.env_int(env, "ZRC_STREAMS_PER_USER", 4),
                          total=runtime.env_int(env, "ZRC_MAX_STREAMS", max(1, workers - 2)),
                          idle_seconds=runtime.env_float(env, "ZRC_STREAM_IDLE_SECONDS", 30.0),
                          watch_seconds=runtime.env_float(env, "ZRC_WATCH_SECONDS", 60.0),
                          min_rate=runtime.env_float(env, "ZRC_STREAM_MIN_BYTES_PER_SECOND", 4 << 10))

    def reg(server) -> list[str]:
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server(
            GatewayServicer(storage, clients, runner, auth, env.get("ZRC_TMPDIR") or None, streams), server)
        return [gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name]
    return reg, runner, clients, auth


def main(env: dict[str, str] | None = None) -> None:
    def make(storage: Storage, env: dict[str, str]) -> dict:
        reg, runner, clients, auth = build(storage, env)
        runner.start()
        sweeper = Sweeper(storage, clients.job_summaries, RetentionSettings(
            every=runtime.env_float(env, "ZRC_SWEEP_SECONDS", 3600.0),
            upload_hours=runtime.env_float(env, "ZRC_RETAIN_UPLOAD_HOURS", 24.0),
            invalid_hours=runtime.env_float(env, "ZRC_RETAIN_INVALID_HOURS", 168.0)))
        sweeper.start()

        def stop() -> None:
            sweeper.shutdown()
            runner.shutdown()
        return {"register": reg, "on_stop": stop, "interceptors": (AuthInterceptor(auth),)}

    runtime.run_service("gateway", make, env)
