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
    open_submission,
    selection_from_dict,
    selection_to_dict,
)
from zrc.common.local import REFUSED, LocalFolders, LocalRefError
from zrc.common.v1 import common_pb2
from zrc.core import jobs
from zrc.core.benchmarks import BENCHMARKS, get_benchmark
from zrc.core.dataset import gold_file_names, load_dataset
from zrc.core.params import Params
from zrc.core.pipeline import SelectionError, select
from zrc.core.pooled import is_pooled_upload
from zrc.core.sources import ZipTree
from zrc.gateway.auth import Auth, AuthInterceptor, current, next_reset
from zrc.gateway.runner import Clients, Runner, RunnerSettings, version_label
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
                           publish=job.publish, model_id=job.model_id)


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
                 local: LocalFolders | None = None):
        self.storage, self.c, self.runner, self.auth, self.tmpdir = storage, clients, runner, auth, tmpdir
        self.local = local   # the embedded stack's registered folders; None on a server: local refs refused
        self.require_raw = False   # ZRC_SUBMIT_REQUIRE_RAW: published entries must come from raw archives
        self.uploads = Uploads(storage)

    # uploads ------------------------------------------------------------------------------------------
    def GetUpload(self, request, context):
        digest = request.sha256.lower()
        if self.uploads.stored(digest):
            self.auth.add_owner(digest, current.get())  # holding the bytes proves nothing is leaked
            return gateway_pb2.GetUploadResponse(stored=True)
        return gateway_pb2.GetUploadResponse(committed=self.uploads.committed(digest))

    def UploadSubmission(self, request_iterator, context):
        meta, rest = _first(request_iterator, "upload")
        digest = meta.sha256.lower()
        structlog.contextvars.bind_contextvars(submission=digest[:12])
        who = current.get()
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
        meta, path, size, digest = _spool_to_file(request_iterator, "dataset", self.tmpdir)
        name = meta.name
        manifest_key = dataset_manifest_key(name)
        # One part, then one file, in memory at a time. Compiled forms are stored as each part passes its
        # checks; they are used only with the very CSV bytes they were made from, so one left behind by an
        # import that fails later can never be read with other CSVs. The CSVs go once every part is good.
        notes: list[str] = []
        content = hashlib.sha256()
        total = 0
        try:
            tree = ZipTree(path, label=name)
            try:
                dataset = load_dataset(tree, name=name)
                for rel, data, part_notes in dataset.compile_parts():
                    self.storage.put_bytes(DATASETS, f"{name}/files/{rel}", data)
                    notes.extend(part_notes)
                bench, root, names = gold_file_names(tree)
                for rel in sorted(names):
                    data = root.read(rel)
                    content.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
                    total += len(data)
                    self.storage.put_bytes(DATASETS, f"{name}/files/{rel}", data)
            finally:
                tree.close()
        finally:
            Path(path).unlink(missing_ok=True)
        info = {"name": name, "benchmark": bench.name, "parts": [f"{t} {s}" for t, s in dataset.available],
                "digest": content.hexdigest(), "size": total}
        self.storage.put_json(DATASETS, manifest_key, info)  # written last: the commit point
        log.info("dataset_imported", dataset=name, parts=len(info["parts"]))
        return gateway_pb2.ImportDatasetResponse(dataset=gateway_pb2.DatasetInfo(**info), notes=notes)

    def ListDatasets(self, request, context):
        out = []
        for key in self.storage.list(DATASETS):
            if key.endswith("/manifest.json") and key.count("/") == 1:
                out.append(gateway_pb2.DatasetInfo(**self.storage.get_json(DATASETS, key)))
        return gateway_pb2.ListDatasetsResponse(datasets=out)

    def ValidateSubmission(self, request, context):
        self._check_selection(request.selection)
        self._check_owner(request.selection, current.get())
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
        if sel.local_ref:
            if self.local is None:
                raise LocalRefError(REFUSED)
            self.local.path(sel.local_ref)     # known to this process, or INVALID_ARGUMENT
            archive_key(sel.submission_digest)  # the folder's fingerprint keys its cached results
        elif not self.storage.exists(SUBMISSIONS, archive_key(sel.submission_digest)):
            raise NotFound(f"submission {sel.submission_digest[:12]} was not uploaded")
        return bench.name, sets, tasks, ds_name, man

    def _check_owner(self, sel, who) -> None:
        """Archives have owners; a local folder belongs to the process that registered it (checked above)."""
        if not sel.local_ref:
            self.auth.check_owner(sel.submission_digest, who)

    def Evaluate(self, request, context):
        sel = request.selection
        who = current.get()
        bench, sets, tasks, ds_name, man = self._check_selection(sel)
        self._check_owner(sel, who)
        if request.baseline:
            self.auth.require_admin(who, "publishing a baseline")
        if request.publish and (sets != ["dev", "test"] or tasks != list(get_benchmark(bench).task_names)
                                or request.skip_validation):
            raise BadRequest("a published submission is evaluated on every set and task, with validation")
        if request.publish and self.require_raw and self._pooled(sel):
            raise runtime.Abort(grpc.StatusCode.FAILED_PRECONDITION,
                                "this server requires the raw embedding files for zrc submit: run `zrc submit --raw`")
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

    def _pooled(self, sel) -> bool:
        """Whether the archive carries pooled vectors instead of the embedding files (zrc.core.pooled)."""
        tree = open_submission(self.storage, sel.submission_digest, sel.local_ref, self.local)
        try:
            return is_pooled_upload(tree)
        finally:
            tree.close()

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
                raise BadRequest(f"invalid job id {job_id!r}") from None
            raise

    def _own_job(self, job_id: str) -> jobs.Job:
        job = self._job(job_id)
        self.auth.check_job(job, current.get())
        return job

    def GetJob(self, request, context):
        return gateway_pb2.GetJobResponse(job=job_to_pb(self._own_job(request.job_id)))

    def ListJobs(self, request, context):
        who = current.get()
        r = self.c.call(self.c.results.ListJobs, results_pb2.ListJobsRequest(unfinished_only=False))
        js = sorted((jobs.Job.from_dict(json.loads(j)) for j in r.job_json), key=lambda j: j.created_at)
        return gateway_pb2.ListJobsResponse(jobs=[job_to_pb(j) for j in js if who.admin or j.owner == who.user])

    def WatchJob(self, request, context):
        structlog.contextvars.bind_contextvars(job_id=request.job_id)
        self._own_job(request.job_id)
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


def build(storage: Storage, env: dict[str, str], local: LocalFolders | None = None):
    """Clients, runner and a register function from the gateway's environment.

    ``local`` is given only by the embedded stack (zrc.embedded): never by an environment setting, so no
    deployed server can be configured to read folders named in requests.
    """
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
    mode = env.get("ZRC_AUTH", "required")
    if mode not in ("required", "off"):
        raise runtime.ConfigError(f"ZRC_AUTH must be required or off, got {mode!r}")
    admin_token = env.get("ZRC_ADMIN_TOKEN") or None
    if mode == "required" and (not admin_token or len(admin_token) < 16):
        raise runtime.ConfigError("ZRC_ADMIN_TOKEN (at least 16 characters) is required when ZRC_AUTH=required")
    auth = Auth(storage, required=mode == "required", admin_token=admin_token,
                quota_per_day=runtime.env_int(env, "ZRC_QUOTA_PER_DAY", 0))

    require_raw = env.get("ZRC_SUBMIT_REQUIRE_RAW", "false").lower()
    if require_raw not in ("true", "false", "1", "0"):
        raise runtime.ConfigError(f"ZRC_SUBMIT_REQUIRE_RAW must be true or false, got {require_raw!r}")

    def reg(server) -> list[str]:
        servicer = GatewayServicer(storage, clients, runner, auth, env.get("ZRC_TMPDIR") or None, local)
        servicer.require_raw = require_raw in ("true", "1")
        gateway_pb2_grpc.add_GatewayServiceServicer_to_server(servicer, server)
        return [gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name]
    return reg, runner, clients, auth


def main(env: dict[str, str] | None = None) -> None:
    def make(storage: Storage, env: dict[str, str]) -> dict:
        reg, runner, _, auth = build(storage, env)
        runner.start()
        return {"register": reg, "on_stop": runner.shutdown, "interceptors": (AuthInterceptor(auth),)}

    runtime.run_service("gateway", make, env)
