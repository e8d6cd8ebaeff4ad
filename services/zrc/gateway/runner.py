"""The gateway's job runner: durable, resumable evaluation jobs.

Jobs live in the results service (object storage). A runner thread takes a job
by writing a lease (owner + expiry) and renews it with heartbeats while it
works; a reaper re-queues unfinished jobs whose lease has expired, so a
restarted gateway (or another replica) resumes them. Each step is idempotent:
validation is recomputed, scored parts are cached by key and skipped, so
re-running a step after a crash is harmless.

Calls to validation/scoring/results retry with exponential backoff on
UNAVAILABLE (a scorer being restarted, storage paused) up to a time budget; a
job then ends FAILED with the reason, never stuck in a running state.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import structlog
from google.protobuf import json_format
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from zrc.common import internal, runtime
from zrc.common.data import finding_from_pb, result_key, selection_from_dict
from zrc.core import SCORER_VERSION, jobs
from zrc.core.benchmarks import get_benchmark
from zrc.core.findings import Finding
from zrc.core.leaderboard import dumps, entry_from_summaries
from zrc.core.meta import check_meta
from zrc.core.params import Params
from zrc.core.pipeline import select
from zrc.results.v1 import results_pb2, results_pb2_grpc
from zrc.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from zrc.validation.v1 import validation_pb2, validation_pb2_grpc

log = structlog.get_logger("zrc.gateway.runner")
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED)


@dataclass
class RunnerSettings:
    lease_seconds: float = 30.0
    retry_budget: float = 180.0       # how long a call keeps being retried on UNAVAILABLE
    call_timeout: float = 900.0       # deadline of one validation/scoring call
    quick_timeout: float = 30.0       # deadline of one results/describe call
    workers: int = 2
    reap_every: float = 5.0


def version_label(task_names, versions: dict[str, str]) -> str:
    """The scorer versions of an entry, one per task ("lexical=1,syntactic=1,semantic=1")."""
    return ",".join(f"{t}={versions.get(t, '?')}" for t in task_names)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, grpc.RpcError) and exc.code() in RETRYABLE


class Clients:
    """Stubs of the internal services; every call has a deadline and retries on UNAVAILABLE."""

    def __init__(self, validation: str, results: str, scorers: dict[str, str], settings: RunnerSettings,
                 internal_token: str | None = None):
        self.s = settings
        self._channels = [runtime.channel(a) for a in (validation, results, *scorers.values())]
        stubs = [internal.authenticated(ch, internal_token) for ch in self._channels]
        self.validation = validation_pb2_grpc.ValidationServiceStub(stubs[0])
        self.results = results_pb2_grpc.ResultsServiceStub(stubs[1])
        self.scorers = {task: scoring_pb2_grpc.ScoringServiceStub(ch)
                        for task, ch in zip(scorers, stubs[2:], strict=True)}

    def call(self, fn: Callable, request, timeout: float | None = None, budget: float | None = None):
        for attempt in Retrying(retry=retry_if_exception(_retryable), reraise=True,
                                stop=stop_after_delay(self.s.retry_budget if budget is None else budget),
                                wait=wait_exponential_jitter(multiplier=0.2, max=5.0)):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    log.info("retrying", method=getattr(fn, "_method", b"?"), attempt=attempt.retry_state.attempt_number)
                return fn(request, timeout=timeout or self.s.quick_timeout)
        raise AssertionError("unreachable: tenacity returns or re-raises")  # pragma: no cover

    # job records -----------------------------------------------------------------------------------
    def put_job(self, job: jobs.Job) -> None:
        self.call(self.results.PutJob, results_pb2.PutJobRequest(job_json=json.dumps(job.to_dict())))

    def get_job(self, job_id: str) -> jobs.Job:
        r = self.call(self.results.GetJob, results_pb2.GetJobRequest(job_id=job_id))
        return jobs.Job.from_dict(json.loads(r.job_json))

    def unfinished(self) -> list[jobs.Job]:
        r = self.call(self.results.ListJobs, results_pb2.ListJobsRequest(unfinished_only=True), budget=5.0)
        return [jobs.Job.from_dict(json.loads(j)) for j in r.job_json]

    def close(self) -> None:
        for ch in self._channels:
            ch.close()


class Runner:
    def __init__(self, clients: Clients, settings: RunnerSettings, owner: str | None = None):
        self.c = clients
        self.s = settings
        self.owner = owner or uuid.uuid4().hex[:12]
        self.queue: queue.Queue[str] = queue.Queue()
        self.stop = threading.Event()
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # Set by the gateway when tokens identify users: the entry's submitter is then the token's user
        # (meta.yaml may not name another) and a model_id belongs to whoever published it first.
        self.enforce_identity = False
        self.claim_model: Callable[[str, str], str | None] | None = None

    def start(self) -> None:
        for i in range(self.s.workers):
            t = threading.Thread(target=self._work, name=f"job-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._reap, name="job-reaper", daemon=True)
        t.start()
        self._threads.append(t)

    def shutdown(self) -> None:
        self.stop.set()

    def submit(self, job_id: str) -> None:
        self.queue.put(job_id)

    # ---------------------------------------------------------------------------------------------
    def _reap(self) -> None:
        """Re-queue unfinished jobs nobody holds (startup: resume what a dead gateway left)."""
        while not self.stop.is_set():
            try:
                for job in self.c.unfinished():
                    with self._lock:
                        busy = job.job_id in self._active
                    if not busy and job.lease_free(self.owner, time.time()):
                        self.queue.put(job.job_id)
            except Exception as exc:  # noqa: BLE001 - storage may be down; try again next tick
                log.warning("reaper_failed", error=str(exc)[:200])
            self.stop.wait(self.s.reap_every)

    def _work(self) -> None:
        while not self.stop.is_set():
            try:
                job_id = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            with self._lock:
                if job_id in self._active:
                    continue
                self._active.add(job_id)
            try:
                structlog.contextvars.bind_contextvars(job_id=job_id)
                self.run(job_id)
            except Exception as exc:  # noqa: BLE001 - logged; the lease expires and the reaper retries
                log.error("job_crashed", exc_info=exc)
            finally:
                structlog.contextvars.unbind_contextvars("job_id")
                with self._lock:
                    self._active.discard(job_id)

    def run(self, job_id: str) -> None:
        job = self.c.get_job(job_id)
        if job.final or not job.lease_free(self.owner, time.time()):
            return
        job.take_lease(self.owner, time.time(), self.s.lease_seconds)
        self.c.put_job(job)
        beat = threading.Event()
        lock = threading.Lock()   # the job object is shared with the heartbeat thread

        def heartbeat() -> None:
            while not beat.wait(self.s.lease_seconds / 3):
                with lock:
                    if job.final:
                        return
                    job.take_lease(self.owner, time.time(), self.s.lease_seconds)
                    try:
                        self.c.put_job(job)
                    except Exception as exc:  # noqa: BLE001
                        log.warning("heartbeat_failed", error=str(exc)[:200])

        hb = threading.Thread(target=heartbeat, daemon=True)
        hb.start()
        try:
            self._steps(job, lock)
        except grpc.RpcError as exc:
            reason = f"{exc.code().name}: {exc.details()}"
            if exc.code() in RETRYABLE:
                reason = f"a service stayed unavailable for {self.s.retry_budget:.0f} s ({reason})"
            with lock:
                self._fail(job, reason)
        except Exception as exc:  # noqa: BLE001 - never leave a job running
            log.error("job_failed", exc_info=exc)
            with lock:
                self._fail(job, f"internal error: {type(exc).__name__}")
        finally:
            beat.set()

    def _fail(self, job: jobs.Job, reason: str) -> None:
        if job.final:
            return
        job.failure_reason = reason
        job.move(jobs.FAILED, reason)
        job.lease_owner = ""
        self.c.put_job(job)
        log.warning("job_failed", reason=reason)

    def _validate(self, job: jobs.Job, sel) -> validation_pb2.ValidateResponse:
        """Validation is deterministic too: cached like task results (a re-run does not re-read the archive)."""
        key = result_key(sel.submission_digest, job.dataset_digest, sel.benchmark, "validation",
                         " ".join(sel.sets) + "|" + " ".join(sel.tasks), {}, SCORER_VERSION)
        if job.dataset_digest:
            try:
                hit = self.c.call(self.c.results.GetResult, results_pb2.GetResultRequest(key=key)).result
                return json_format.Parse(hit.summary_json, validation_pb2.ValidateResponse())
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
        v = self.c.call(self.c.validation.Validate, validation_pb2.ValidateRequest(selection=sel),
                        timeout=self.s.call_timeout)
        if v.dataset_digest == job.dataset_digest:
            self.c.call(self.c.results.PutResult, results_pb2.PutResultRequest(result=results_pb2.TaskResult(
                key=key, task="validation", set="", summary_json=json_format.MessageToJson(v),
                scorer_version=SCORER_VERSION)))
        return v

    def _identity_findings(self, job: jobs.Job, meta) -> list[dict]:
        """meta.yaml's username must be the authenticated owner; its model_id must be theirs (or free)."""
        if not self.enforce_identity or not isinstance(meta, dict) or job.replaces_entry:
            return []  # an admin's re-scoring keeps the entry it replaces (checked when first published)
        out = []
        name = meta.get("username")
        if (not job.baseline and isinstance(name, str) and name.strip() and not name.startswith("<")
                and name != job.owner):
            out.append(Finding("error", "meta_username_mismatch",
                               f"username is {name!r} but the token is {job.owner!r}'s: an entry is published "
                               f"under the authenticated user; set username: {job.owner}", "meta.yaml"))
        given = str(((meta.get("model_info") or {}) if isinstance(meta.get("model_info"), dict) else {})
                    .get("model_id") or "")
        model_id = job.model_id or ("" if given.startswith("<") else given)
        if model_id and self.claim_model is not None:
            why = self.claim_model(model_id, job.owner)
            if why:
                out.append(Finding("error", "meta_model_id_taken", f"model_info.model_id: {why}; choose another",
                                   "meta.yaml"))
        return [f.to_dict() for f in out]

    def _save(self, job: jobs.Job, lock: threading.Lock, change: Callable[[], None]) -> None:
        with lock:
            change()
            self.c.put_job(job)

    def _steps(self, job: jobs.Job, lock: threading.Lock) -> None:
        sel = selection_from_dict(job.selection)
        if job.state == jobs.QUEUED:
            self._save(job, lock, lambda: job.move(jobs.VALIDATING, "validating the submission"))
        if job.state == jobs.VALIDATING:
            v = self._validate(job, sel)
            findings = [finding_from_pb(f) for f in v.findings]
            ok = v.ok
            if job.publish:  # publishing needs a complete meta.yaml (MetaFile.is_valid of the reference)
                meta_findings = check_meta(json.loads(v.meta_json or "null"), benchmark=sel.benchmark, strict=True)
                findings = [f for f in findings if not f["code"].startswith("meta_")]
                findings += [f.to_dict() for f in meta_findings.items]
                identity = self._identity_findings(job, json.loads(v.meta_json or "null"))
                findings += identity
                ok = ok and meta_findings.ok and not identity
            if not ok and not job.skip_validation:
                n = sum(1 for f in findings if f["severity"] == "error")

                def invalid() -> None:
                    job.findings = findings
                    job.move(jobs.INVALID, f"the submission is invalid: {n} error(s)")
                    job.lease_owner = ""
                self._save(job, lock, invalid)
                return
            bench = get_benchmark(sel.benchmark)
            sets, tasks = select(bench, list(sel.sets) or None, list(sel.tasks) or None)

            def scoring() -> None:
                job.findings = findings
                job.params_json, job.meta_json, job.dataset_digest = v.params_json, v.meta_json, v.dataset_digest
                job.parts = [[t, s] for t in tasks for s in sets]
                job.move(jobs.SCORING, f"scoring {len(job.parts)} part(s)")
            self._save(job, lock, scoring)
        params = Params.from_json(job.params_json)
        def score_part(part: list[str]) -> dict:
            task, set_ = part
            stub = self.c.scorers["prosaudit" if task == "english" else task]
            version = self.c.call(stub.Describe, scoring_pb2.DescribeRequest()).scorer_version
            key = result_key(sel.submission_digest, job.dataset_digest, sel.benchmark, task, set_,
                             params.cache_key(), version)
            try:
                cached = self.c.call(self.c.results.GetResult, results_pb2.GetResultRequest(key=key)).result
                summary = cached.summary_json
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                cached = None
                part_sel = selection_from_dict({**job.selection, "sets": [set_], "tasks": [task]})
                r = self.c.call(stub.Score, scoring_pb2.ScoreRequest(selection=part_sel,
                                                                     skip_validation=job.skip_validation),
                                timeout=self.s.call_timeout)
                result = results_pb2.TaskResult(key=key, task=task, set=set_, files=r.files,
                                                summary_json=r.summary_json, scorer_version=r.scorer_version)
                self.c.call(self.c.results.PutResult, results_pb2.PutResultRequest(result=result))
                summary = r.summary_json
            if f"{task} {set_}" not in job.done:
                self._save(job, lock, lambda: job.part_done(task, set_, key, cached is not None))
            versions[task] = version
            return json.loads(summary)

        versions: dict[str, str] = {}
        # Parts go to different scorer deployments: run them concurrently, at most one per scorer.
        by_scorer: dict[str, list[list[str]]] = {}
        for part in job.parts:
            by_scorer.setdefault(part[0], []).append(part)
        with ThreadPoolExecutor(max_workers=max(1, len(by_scorer)), thread_name_prefix="part") as pool:
            futs = [pool.submit(lambda ps=ps: [score_part(p) for p in ps]) for ps in by_scorer.values()]
            summaries = [sm for f in futs for sm in f.result()]
        meta = json.loads(job.meta_json or "null")
        if job.publish and not job.model_id:
            given = str(((meta or {}).get("model_info") or {}).get("model_id") or "")
            job.model_id = given if given and not given.startswith("<") else uuid.uuid4().hex[:16]
        if job.model_id and isinstance(meta, dict):
            meta = {**meta, "model_info": {**(meta.get("model_info") or {}), "model_id": job.model_id}}
        if self.enforce_identity and isinstance(meta, dict) and not job.baseline:
            meta = {**meta, "username": job.owner}  # submitted_by is who authenticated, whatever meta.yaml says
        entry = entry_from_summaries(sel.benchmark, summaries, params, meta, submission_id=job.job_id)
        self.c.call(self.c.results.PutEntry, results_pb2.PutEntryRequest(job_id=job.job_id, entry_json=dumps(entry)))
        if job.publish:
            bench = get_benchmark(sel.benchmark)
            entry_id = job.replaces_entry or job.job_id
            entry["zrc"] = {"entry_id": entry_id, "job_id": job.job_id, "owner": job.owner, "baseline": job.baseline,
                            "scorer_version": version_label(bench.task_names, versions),
                            "submission_digest": sel.submission_digest, "dataset": sel.dataset,
                            "published_at": jobs.now()}
            self.c.call(self.c.results.PublishEntry, results_pb2.PublishEntryRequest(
                benchmark=sel.benchmark, entry_id=entry_id, entry_json=dumps(entry)))

        def succeeded() -> None:
            job.move(jobs.SUCCEEDED, "published to the leaderboard" if job.publish else "all parts scored")
            job.lease_owner = ""
        self._save(job, lock, succeeded)
        log.info("job_succeeded", parts=len(job.parts))
