"""Gateway: the only public service. Uploads, dataset import, jobs, watch streams, results.

Submission uploads are stored in one pass, one multipart upload each, while hashed (memory stays bounded; a
broken stream resumes), checked against the announced size and sha256, and only then published under their digest, so a partial
upload is never visible and the same archive is never stored twice (gateway/uploads.py); dataset imports
are spooled to a temporary file. Evaluate checks the request synchronously (unknown
benchmark, dataset or submission -> an error now, not a failed job later),
records a job and returns its id at once; the runner does the work.
"""

from __future__ import annotations

import hashlib
import os
import queue
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import structlog

from zrc.app.datasets import delete_dataset, import_dataset, list_datasets
from zrc.app.jobs import JobService
from zrc.common import internal, runtime
from zrc.common.convert import entry_pb, stamp_pb, stamps
from zrc.common.data import (
    finding_to_pb,
    selection_from_dict,
)
from zrc.common.local import LocalFolders
from zrc.core import jobs
from zrc.core.benchmarks import BENCHMARKS, SCORERS, get_benchmark
from zrc.core.errors import FailedPrecondition, InvalidArgument
from zrc.gateway.auth import Auth, current, next_reset
from zrc.gateway.events import GOING, JobEvents
from zrc.gateway.interceptor import AuthInterceptor
from zrc.gateway.runner import Clients, Runner, RunnerSettings
from zrc.gateway.streams import StreamGuard
from zrc.gateway.sweeper import RetentionSettings, Sweeper
from zrc.gateway.uploads import Uploads
from zrc.lazy import lazy_module
from zrc.pb.common.v1 import common_pb2
from zrc.pb.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from zrc.storage import NotFound, Storage

if TYPE_CHECKING:
    from zrc.core import analysis
else:   # numpy: loaded by the first comparison, not by a gateway that only lists
    analysis = lazy_module("zrc.core.analysis")

log = structlog.get_logger("zrc.gateway")
MAX_DATASET_UPLOAD = 1 << 30   # gold-file archives (submission limits: uploads.py)
_STATE = {jobs.QUEUED: gateway_pb2.JOB_STATE_QUEUED, jobs.VALIDATING: gateway_pb2.JOB_STATE_VALIDATING,
          jobs.SCORING: gateway_pb2.JOB_STATE_SCORING, jobs.SUCCEEDED: gateway_pb2.JOB_STATE_SUCCEEDED,
          jobs.INVALID: gateway_pb2.JOB_STATE_INVALID, jobs.FAILED: gateway_pb2.JOB_STATE_FAILED}


def job_to_pb(job: jobs.Job) -> gateway_pb2.Job:
    return gateway_pb2.Job(job_id=job.job_id, state=_STATE[job.state], selection=selection_from_dict(job.selection),
                           skip_validation=job.skip_validation, findings=[finding_to_pb(f) for f in job.findings],
                           failure_reason=job.failure_reason, parts_done=len(job.done), parts_total=len(job.parts),
                           created_at=stamp_pb(job.created_at), updated_at=stamp_pb(job.updated_at), owner=job.owner,
                           publish=job.publish, model_id=job.model_id, findings_count=len(job.findings))


def event_to_pb(e: dict) -> gateway_pb2.JobEvent:
    return gateway_pb2.JobEvent(seq=e["seq"], state=_STATE[e["state"]], message=e["message"], task=e["task"],
                                set=e["set"], at=stamp_pb(e["at"]))


def _first(request_iterator, kind: str):
    """The metadata message that must open an upload stream, and the iterator over the rest."""
    it = iter(request_iterator)
    try:
        first = next(it)
    except StopIteration:
        raise InvalidArgument("empty upload: send the metadata message first") from None
    if first.WhichOneof("payload") != "metadata":
        raise InvalidArgument(f"the first message must carry {kind} metadata, not bytes")
    return first.metadata, it


def _spool_to_file(request_iterator, first_kind: str, tmpdir: str | None):
    """Metadata message first, then chunks into a temp file; returns (metadata, path, size, sha256)."""
    meta, it = _first(request_iterator, first_kind)
    if meta.size < 0 or meta.size > MAX_DATASET_UPLOAD:
        raise InvalidArgument(f"announced size {meta.size} is out of range")
    h = hashlib.sha256()
    size = 0
    fd, path = tempfile.mkstemp(prefix="zrc-upload-", dir=tmpdir)
    try:
        with os.fdopen(fd, "wb") as fh:
            for msg in it:
                if msg.WhichOneof("payload") != "chunk":
                    raise InvalidArgument("metadata may only be sent once, first")
                size += len(msg.chunk)
                if size > meta.size:
                    raise InvalidArgument(f"more bytes than the announced {meta.size}")
                h.update(msg.chunk)
                fh.write(msg.chunk)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    digest = h.hexdigest()
    if size != meta.size:
        Path(path).unlink(missing_ok=True)
        raise InvalidArgument(f"upload incomplete: received {size} of {meta.size} bytes; nothing was stored")
    if meta.sha256 and meta.sha256.lower() != digest:
        Path(path).unlink(missing_ok=True)
        raise InvalidArgument("sha256 mismatch: the archive was corrupted in transit; nothing was stored")
    return meta, path, size, digest


class _Admin:
    """Leaderboards, identity and admin RPCs (mixed into GatewayServicer)."""

    auth: Auth

    def GetLeaderboard(self, request, context):
        bench = get_benchmark(request.benchmark).name
        return gateway_pb2.GetLeaderboardResponse(entries=self.c.leaderboard(bench))

    def WhoAmI(self, request, context):
        who = current.get()
        left = {b: self.auth.quota_left(who, b, self.c.job_state) for b in BENCHMARKS}
        return gateway_pb2.WhoAmIResponse(user=who.user, admin=who.admin, quota_left=left,
                                          quota_resets_at=stamp_pb(next_reset(self.auth.clock())))

    def _admin(self, what: str):
        who = current.get()
        self.auth.require_admin(who, what)
        return who

    def CreateUser(self, request, context):
        who = self._admin("creating users")
        self.auth.create_user(request.name, request.admin)
        self.auth.audit(who, "user-create", request.name, "admin" if request.admin else "")
        return gateway_pb2.CreateUserResponse()

    def CreateToken(self, request, context):
        who = self._admin("issuing tokens")
        token, token_id, expires = self.auth.issue_token(request.user, request.expires_days)
        self.auth.audit(who, "token-create", request.user, f"id {token_id}" + (f", expires {expires}" if expires else ""))
        return gateway_pb2.CreateTokenResponse(token=token, id=token_id, expires_at=stamp_pb(expires))

    def RevokeToken(self, request, context):
        who = self._admin("revoking tokens")
        self.auth.revoke(request.token)
        self.auth.audit(who, "token-revoke", "", "by token")
        return gateway_pb2.RevokeTokenResponse()

    def ListUsers(self, request, context):
        self._admin("listing users")
        return gateway_pb2.ListUsersResponse(users=[gateway_pb2.UserInfo(**stamps(u, "created_at")) for u in self.auth.list_users()])

    def ListTokens(self, request, context):
        self._admin("listing tokens")
        return gateway_pb2.ListTokensResponse(tokens=[gateway_pb2.TokenInfo(**stamps(t, "created_at", "expires_at"))
                                                      for t in self.auth.list_tokens(request.user)])

    def RevokeTokens(self, request, context):
        who = self._admin("revoking tokens")
        n = self.auth.revoke_tokens(token=request.token, token_id=request.id, user=request.user)
        how = f"id {request.id}" if request.id else f"all of {request.user}" if request.user else "by token"
        self.auth.audit(who, "token-revoke", request.user, f"{how}: {n} revoked")
        return gateway_pb2.RevokeTokensResponse(revoked=n)

    def SetUserDisabled(self, request, context):
        who = self._admin("disabling users")
        self.auth.set_disabled(request.name, request.disabled)
        self.auth.audit(who, "user-disable" if request.disabled else "user-enable", request.name)
        return gateway_pb2.SetUserDisabledResponse()

    def GrantSubmission(self, request, context):
        who = self._admin("granting a submission")
        digest = request.sha256.lower()
        if not self.uploads.stored(digest):
            raise NotFound(f"submission {digest[:12]} was not uploaded")
        self.auth.grant(digest, request.user)
        self.auth.audit(who, "submission-grant", request.user, digest[:12])
        return gateway_pb2.GrantSubmissionResponse()

    def ListAudit(self, request, context):
        self._admin("reading the audit log")
        return gateway_pb2.ListAuditResponse(records=[gateway_pb2.AuditRecord(**stamps(r, "at"))
                                                      for r in self.auth.list_audit(request.limit)])

    def Rescore(self, request, context):
        """Re-evaluate published entries scored by another scorer version; each new job replaces its entry."""
        job_ids = self.jobs.rescore(request.benchmark, current.get())
        log.info("rescore", benchmark=get_benchmark(request.benchmark).name, jobs=len(job_ids))
        return gateway_pb2.RescoreResponse(job_ids=job_ids)


class GatewayServicer(_Admin, gateway_pb2_grpc.GatewayServiceServicer):
    def __init__(self, storage: Storage, clients: Clients, runner: Runner, auth: Auth, tmpdir: str | None = None,
                 streams: StreamGuard | None = None, local: LocalFolders | None = None):
        self.storage, self.c, self.auth, self.tmpdir = storage, clients, auth, tmpdir
        self.uploads = Uploads(storage)
        self.streams = streams or StreamGuard()
        self.events = getattr(clients, "events", None) or JobEvents(lambda job_id: clients.get_job(job_id))
        # ``local``: the embedded stack's registered folders; None on a server: local refs refused
        self.jobs = JobService(clients, auth, lambda job_id: runner.submit(job_id), storage, local)

    # uploads ------------------------------------------------------------------------------------------
    def GetUpload(self, request, context):
        """``stored`` only for an owner: anyone else must send the bytes (possession is what grants access)."""
        digest = request.sha256.lower()
        who = current.get()
        if self.uploads.stored(digest):
            if self.auth.owns(digest, who):
                return gateway_pb2.GetUploadResponse(stored=True)
            return gateway_pb2.GetUploadResponse(committed=0)  # send it whole: that is the proof
        return gateway_pb2.GetUploadResponse(committed=self.uploads.committed(digest, who.user))

    def UploadSubmission(self, request_iterator, context):
        who = current.get()
        with self.streams.open(who.user, "upload"):
            return self._upload(self.streams.idle_limited(request_iterator, context), who)

    def _upload(self, request_iterator, who):
        meta, rest = _first(request_iterator, "upload")
        digest = meta.sha256.lower()
        structlog.contextvars.bind_contextvars(submission=digest[:12])
        if self.uploads.stored(digest):
            self.uploads.verify(meta, rest)  # already here: hashed, not stored twice; the sender now owns it
            self.auth.add_owner(digest, who)
            return gateway_pb2.UploadSubmissionResponse(digest=digest, size=meta.size, created=False)
        held, upload = self.uploads.receive(meta, rest, who.user)
        if held < meta.size:
            raise FailedPrecondition(f"upload incomplete: the server holds {held} of {meta.size} bytes; "
                                     f"resume from {held} (nothing is visible until complete)")
        self.uploads.finish(digest, meta.size, upload, who.user)
        self.auth.add_owner(digest, who)
        log.info("upload_stored", size=meta.size, resumed_from=meta.offset)
        return gateway_pb2.UploadSubmissionResponse(digest=digest, size=meta.size, created=True)

    def ImportDataset(self, request_iterator, context):
        self.auth.require_admin(current.get(), "importing a dataset")
        with self.streams.open(current.get().user, "import"):
            meta, path, size, digest = _spool_to_file(self.streams.idle_limited(request_iterator, context),
                                                      "dataset", self.tmpdir)
        try:
            info, notes = import_dataset(self.storage, meta.name, path)
        finally:
            Path(path).unlink(missing_ok=True)
        self.auth.audit(current.get(), "dataset-import", meta.name, f"digest {info['digest'][:12]}")
        log.info("dataset_imported", dataset=meta.name, parts=len(info["parts"]))
        return gateway_pb2.ImportDatasetResponse(dataset=gateway_pb2.DatasetInfo(**info), notes=notes)

    def ListDatasets(self, request, context):
        return gateway_pb2.ListDatasetsResponse(datasets=[gateway_pb2.DatasetInfo(**d) for d in list_datasets(self.storage)])

    def DeleteDataset(self, request, context):
        self.auth.require_admin(current.get(), "removing a dataset")
        info = delete_dataset(self.storage, request.name)
        log.info("dataset_removed", dataset=request.name)
        return gateway_pb2.DeleteDatasetResponse(dataset=gateway_pb2.DatasetInfo(**info))

    def ValidateSubmission(self, request, context):
        v = self.jobs.validate(request.selection, current.get())
        return gateway_pb2.ValidateSubmissionResponse(ok=v.ok, findings=v.findings, params=v.params)

    # jobs ---------------------------------------------------------------------------------------------
    def Evaluate(self, request, context):
        sel = request.selection
        who = current.get()
        job, s = self.jobs.create(sel, who, publish=request.publish, baseline=request.baseline,
                                  skip_validation=request.skip_validation)
        structlog.contextvars.bind_contextvars(job_id=job.job_id, submission=sel.submission_digest[:12])
        log.info("job_created", benchmark=s.bench.name, sets=s.sets, tasks=s.tasks, publish=request.publish,
                 user=who.user)
        return gateway_pb2.EvaluateResponse(job_id=job.job_id)

    def _own_job(self, job_id: str) -> jobs.Job:
        return self.jobs.own(job_id, current.get())

    def GetJob(self, request, context):
        return gateway_pb2.GetJobResponse(job=job_to_pb(self._own_job(request.job_id)))

    def ListJobs(self, request, context):
        """The caller's jobs, oldest first, a page at a time, as summaries: one job with megabytes of
        findings can no longer make the listing fail for everyone."""
        page, token = self.jobs.page(current.get(), request.page_size, request.page_token)
        out = []
        for d in page:
            pb = job_to_pb(jobs.Job.from_dict(d))
            pb.findings_count = int(d.get("findings_count", 0))
            out.append(pb)
        return gateway_pb2.ListJobsResponse(jobs=out, next_page_token=token)

    def WatchJob(self, request, context, send=None):
        """Events until the job ends, or until ``ZRC_WATCH_SECONDS`` pass: the stream then ends without a
        final job and the client reconnects after the last event it saw.

        Non-blocking (``send`` given): this returns at once and zrc.gateway.events pushes each new record
        through ``send``, so a watcher holds no worker thread however long it waits. Called without
        ``send`` (a wrapper that knows only blocking handlers: tracing) it answers an iterator instead."""
        structlog.contextvars.bind_contextvars(job_id=request.job_id)
        job = self._own_job(request.job_id)
        release = self.streams.acquire(current.get().user, "watch")
        if send is None:
            q: queue.SimpleQueue = queue.SimpleQueue()
            self._watch(request, context, job, q.put, release)
            return iter(q.get, None)
        self._watch(request, context, job, send, release)
        return None

    WatchJob.experimental_non_blocking = True  # type: ignore[attr-defined]   # read by grpc._server

    def _watch(self, request, context, job: jobs.Job, send, release) -> None:
        lock = threading.Lock()
        state = {"seen": request.after_seq, "over": False}

        def end() -> None:
            with lock:
                if state["over"]:
                    return
                state["over"] = True
            release()
            send(None)

        def deliver(job: jobs.Job | str | None) -> bool:
            """Send what is new in ``job`` (None: time is up; GOING: the gateway stops); True once over."""
            if job is GOING:
                context.set_code(grpc.StatusCode.UNAVAILABLE)
                context.set_details("the gateway is shutting down: reconnect")
            if not isinstance(job, jobs.Job):
                end()
                return True
            with lock:
                if state["over"]:
                    return True
                new = [e for e in job.events if e["seq"] > state["seen"]]
                for i, e in enumerate(new):
                    last = job.final and i == len(new) - 1
                    send(gateway_pb2.WatchJobResponse(event=event_to_pb(e), job=job_to_pb(job) if last else None))
                    state["seen"] = e["seq"]
                if job.final and not new:
                    send(gateway_pb2.WatchJobResponse(job=job_to_pb(job)))
            if job.final:
                end()
            return job.final

        cancel = self.events.watch(job.job_id, deliver, self.streams.watch_seconds, job)

        def gone() -> None:   # the client went away (or the stream ended): free the slot at once
            cancel()
            end()
        if not context.add_callback(gone):   # already over
            gone()

    def GetScores(self, request, context):
        job = self._own_job(request.job_id)
        self.jobs.require_scores(job)
        files, entry = self.jobs.files(job)
        return gateway_pb2.GetScoresResponse(files=[common_pb2.File(name=n, content=files[n]) for n in sorted(files)],
                                             entry=entry_pb(entry), job=job_to_pb(job))

    def CompareScores(self, request, context):
        who = current.get()
        a, b = self.jobs.comparable(request.a, who), self.jobs.comparable(request.b, who)
        rows = []
        for r in analysis.comparison_rows(a, b):
            rows.append(gateway_pb2.MetricComparison(
                task=r["task"], set=r["set"], metric=r["metric"],
                **{k: r[k] for k in ("a", "b", "diff", "ci_low", "ci_high", "p_value") if r[k] is not None}))
        return gateway_pb2.CompareScoresResponse(rows=rows)


def build(storage: Storage, env: dict[str, str], local: LocalFolders | None = None):
    """Clients, runner and a register function from the gateway's environment.

    ``local`` is given only by the embedded stack (zrc.embedded): never by an environment setting, so no
    deployed server can be configured to read folders named in requests.
    """
    scorers = {t: runtime.env_addr(env, f"ZRC_SCORER_{t.upper()}_ADDR") for t in SCORERS}
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
                      scorers, settings, internal_token=internal.gateway_token(env))
    # every record this gateway writes reaches its watchers at once; other gateways' writes within a poll
    poll = runtime.env_float(env, "ZRC_WATCH_POLL_SECONDS", 1.0)
    if not poll > 0:
        raise runtime.ConfigError(f"ZRC_WATCH_POLL_SECONDS must be a positive number of seconds, got {poll}")
    clients.events = JobEvents(lambda job_id: clients.get_job(job_id, budget=2.0), poll_seconds=poll)
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
    if auth.required:
        runner.publisher.enforce_identity, runner.publisher.claim_model = True, auth.claim_model

    workers = runtime.env_int(env, "ZRC_WORKERS", 8)
    streams = StreamGuard(per_user=runtime.env_int(env, "ZRC_STREAMS_PER_USER", 4),
                          total=runtime.env_int(env, "ZRC_MAX_STREAMS", max(1, workers - 2)),
                          idle_seconds=runtime.env_float(env, "ZRC_STREAM_IDLE_SECONDS", 30.0),
                          watch_seconds=runtime.env_float(env, "ZRC_WATCH_SECONDS", 60.0),
                          min_rate=runtime.env_float(env, "ZRC_STREAM_MIN_BYTES_PER_SECOND", 4 << 10),
                          max_watches=runtime.env_int(env, "ZRC_WATCH_MAX_STREAMS", 1000))

    require_raw = env.get("ZRC_SUBMIT_REQUIRE_RAW", "false").lower()
    if require_raw not in ("true", "false", "1", "0"):
        raise runtime.ConfigError(f"ZRC_SUBMIT_REQUIRE_RAW must be true or false, got {require_raw!r}")

    def reg(server) -> list[str]:
        servicer = GatewayServicer(storage, clients, runner, auth, env.get("ZRC_TMPDIR") or None, streams, local)
        servicer.jobs.require_raw = require_raw in ("true", "1")
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server(servicer, server)
        return [gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name]
    return reg, runner, clients, auth


def main(env: dict[str, str] | None = None) -> None:
    def make(storage: Storage, env: dict[str, str]) -> dict:
        reg, runner, clients, auth = build(storage, env)
        runner.start()
        sweeper = Sweeper(storage, clients.job_summaries, RetentionSettings(
            every=runtime.env_float(env, "ZRC_SWEEP_SECONDS", 3600.0),
            upload_hours=runtime.env_float(env, "ZRC_RETAIN_UPLOAD_HOURS", 24.0),
            invalid_hours=runtime.env_float(env, "ZRC_RETAIN_INVALID_HOURS", 168.0),
            job_days=runtime.env_float(env, "ZRC_RETAIN_JOB_DAYS", 0.0)))
        sweeper.start()

        def stop() -> None:
            sweeper.shutdown()
            runner.shutdown()
        return {"register": reg, "on_stop": stop, "interceptors": (AuthInterceptor(auth),)}

    runtime.run_service("gateway", make, env)
