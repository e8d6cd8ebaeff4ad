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

Only infrastructure faults are retried. What the input caused is final at
once: RESOURCE_EXHAUSTED (a message over the size limit) or INVALID_ARGUMENT
from validation or scoring ends the job INVALID with a finding, never FAILED
as "unavailable". A job that makes its validator or a scorer die is not
crash-looped on services everyone shares: every Validate and Score call begun
is counted in the job record before it starts (so a dead gateway counts too;
one counter per worker, calls still in flight excluded), and a job with
``max_crashes`` calls on one worker that never ended is quarantined as INVALID
with a message naming the limits. ``attempts`` (leases taken) is
capped as well. An embedded runner (``adopt_orphans`` off) never resumes a job
another, dead ``zrc`` process left: it ends it with the reason instead of
dying on it again inside an unrelated command.
"""

from __future__ import annotations

import contextvars
import datetime as _dt
import json
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc  # the runner is a client of validation, the scorers and results: it reads their status codes
import structlog
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from zrc.app.jobs import PartResult, Publisher, cached_validation, remember_validation
from zrc.app.selection import resolve
from zrc.common import internal, metrics, tracing
from zrc.common.channel import channel
from zrc.common.convert import entry_pb, entry_py, job_pb, job_py, meta_py, params_pb, params_py, summary_py
from zrc.common.data import finding_from_pb, result_key, selection_from_dict
from zrc.core import SCORER_VERSION, jobs
from zrc.core.benchmarks import get_benchmark
from zrc.core.errors import InvalidArgument, NotFound
from zrc.core.limits import excerpt, quoted
from zrc.core.limits import summary as limits_summary
from zrc.core.params import Params
from zrc.gateway.events import JobEvents
from zrc.pb.results.v1 import results_pb2, results_pb2_grpc
from zrc.pb.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from zrc.pb.validation.v1 import validation_pb2, validation_pb2_grpc

log = structlog.get_logger("zrc.gateway.runner")
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# Errors the submission caused: retrying gives the same answer and costs everyone the shared services.
INPUT_CAUSED = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT)
_REAPING = " reaper"   # in Runner._active while the reaper reads the job list (never a job id: no spaces)


@dataclass
class RunnerSettings:
    lease_seconds: float = 30.0
    retry_budget: float = 180.0       # how long a call keeps being retried on UNAVAILABLE
    call_timeout: float = 900.0       # deadline of one validation/scoring call
    quick_timeout: float = 30.0       # deadline of one results/describe call
    workers: int = 2
    reap_every: float = 5.0
    max_attempts: int = 6             # leases taken (gateway restarts) before a job is given up
    max_crashes: int = 2              # Validate / Score calls begun and never ended before the job is quarantined
    adopt_orphans: bool = True        # resume jobs whose owner died (servers); the embedded CLI does not
    orphan_grace: float = 30.0        # a job nobody leased for this long is an orphan


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, grpc.RpcError) and exc.code() in RETRYABLE


def _never_connected(exc: grpc.RpcError) -> bool:
    """UNAVAILABLE before the call reached a server (refused, no address): no validator died of it."""
    d = (exc.details() or "").lower()
    return exc.code() == grpc.StatusCode.UNAVAILABLE and any(
        m in d for m in ("failed to connect", "connection refused", "connections to all backends failing",
                         "dns resolution", "no address"))


class Quarantined(Exception):
    """The job made its worker fail too often: it ends INVALID with this message."""


class Clients:
    """Stubs of the internal services; every call has a deadline and retries on UNAVAILABLE."""

    events: JobEvents | None = None   # told of every job record written (the watchers'): zrc.gateway.events

    def __init__(self, validation: str, results: str, scorers: dict[str, str], settings: RunnerSettings,
                 internal_token: str | None = None):
        self.s = settings
        self._channels = [channel(a) for a in (validation, results, *scorers.values())]
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
        """Write the job record as a compare-and-set on its revision: of two gateways holding the same job,
        only the one that wrote last may write again. Raises :class:`jobs.JobConflict` when another writer
        changed the record (this gateway lost the job and must stop working on it)."""
        expected = job.revision
        job.revision = expected + 1
        record = job_pb(job.to_dict())
        try:
            self.call(self.results.PutJob, results_pb2.PutJobRequest(
                job=record, conditional=True, expected_revision=expected))
        except grpc.RpcError as exc:
            job.revision = expected
            if exc.code() == grpc.StatusCode.ABORTED:
                raise jobs.JobConflict(exc.details() or "the job record changed") from None
            raise
        if self.events is not None:   # a copy, as written (the runner goes on changing the job), read if watched
            self.events.publish(job.job_id, lambda: jobs.Job.from_dict(job_py(record)))

    def get_job(self, job_id: str, budget: float | None = None) -> jobs.Job:
        r = self.call(self.results.GetJob, results_pb2.GetJobRequest(job_id=job_id), budget=budget)
        return jobs.Job.from_dict(job_py(r.job))

    def unfinished(self) -> list[jobs.Job]:
        """Summaries (no findings, no events) of the jobs not yet final, fetched page by page."""
        return [jobs.Job.from_dict(d) for d in self.job_summaries(unfinished_only=True, budget=5.0)]

    def job_summaries(self, unfinished_only: bool = False, budget: float | None = None) -> list[dict]:
        out: list[dict] = []
        token = ""
        while True:
            r = self.call(self.results.ListJobs, results_pb2.ListJobsRequest(
                unfinished_only=unfinished_only, page_size=500, page_token=token, summaries=True), budget=budget)
            out.extend(job_py(j) for j in r.jobs)
            token = r.next_page_token
            if not token:
                return out

    def find_job(self, job_id: str) -> jobs.Job:
        """The job record, or NotFound / InvalidArgument (a malformed id) in the domain's vocabulary."""
        try:
            return self.get_job(job_id)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise NotFound(f"job {job_id}") from None
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidArgument(f"invalid job id {quoted(job_id)}") from None
            raise

    def job_state(self, job_id: str) -> str | None:
        """The job's state; None if it cannot be read now (quota counting then skips it)."""
        try:
            return self.get_job(job_id).state
        except grpc.RpcError:
            return None

    # results, entries and scorer versions: the application layer's Store (zrc.app.jobs) ----------------
    def cached_result(self, key: str) -> results_pb2.TaskResult | None:
        try:
            return self.call(self.results.GetResult, results_pb2.GetResultRequest(key=key)).result
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return None

    def get_result(self, key: str) -> PartResult:
        r = self.call(self.results.GetResult, results_pb2.GetResultRequest(key=key)).result
        return PartResult(r.task, {f.name: f.content for f in r.files}, summary_py(r.summary), r.scorer_version)

    def validation_answer(self, key: str) -> validation_pb2.ValidateResponse | None:
        hit = self.cached_result(key)
        return None if hit is None else hit.validation

    def keep_validation_answer(self, key: str, answer: validation_pb2.ValidateResponse) -> None:
        self.put_result(results_pb2.TaskResult(key=key, task="validation", set="", validation=answer,
                                               scorer_version=SCORER_VERSION))

    def put_result(self, result: results_pb2.TaskResult) -> None:
        self.call(self.results.PutResult, results_pb2.PutResultRequest(result=result))

    def leaderboard(self, benchmark: str) -> list:
        return list(self.call(self.results.ListLeaderboard,
                              results_pb2.ListLeaderboardRequest(benchmark=benchmark)).entries)

    def published(self, benchmark: str) -> list[dict]:
        return [entry_py(e) for e in self.leaderboard(benchmark)]

    def get_entry(self, job_id: str) -> dict:
        return entry_py(self.call(self.results.GetEntry, results_pb2.GetEntryRequest(job_id=job_id)).entry)

    def put_entry(self, job_id: str, entry: dict) -> None:
        self.call(self.results.PutEntry, results_pb2.PutEntryRequest(job_id=job_id, entry=entry_pb(entry)))

    def publish_entry(self, benchmark: str, entry_id: str, entry: dict) -> None:
        self.call(self.results.PublishEntry, results_pb2.PublishEntryRequest(
            benchmark=benchmark, entry_id=entry_id, entry=entry_pb(entry)))

    def validate(self, sel) -> validation_pb2.ValidateResponse:
        return self.call(self.validation.Validate, validation_pb2.ValidateRequest(selection=sel),
                         timeout=self.s.call_timeout)

    def scorer_version(self, scorer: str) -> str:
        return self.call(self.scorers[scorer].Describe, scoring_pb2.DescribeRequest()).scorer_version

    def close(self) -> None:
        if self.events is not None:
            self.events.stop()
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
        self._inflight: Counter[tuple[str, str]] = Counter()
        self._threads: list[threading.Thread] = []
        self.publisher = Publisher(clients)   # identity rules set by a gateway whose tokens identify users

    def start(self) -> None:
        metrics.QUEUE_DEPTH.set_function(self.queue.qsize)   # here: a runner never started has no queue to show
        for i in range(self.s.workers):
            t = threading.Thread(target=self._work, name=f"job-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._reap, name="job-reaper", daemon=True)
        t.start()
        self._threads.append(t)

    def shutdown(self) -> None:
        self.stop.set()
        events = getattr(self.c, "events", None)
        if events is not None:   # watchers end now, while the server can still tell them
            events.stop()

    def settled(self) -> bool:
        """After :meth:`shutdown`: whether no job and no reaper pass is in progress (none starts any more). The
        clients' channels may be closed only then: grpc can crash the process on a call through a closed
        channel, so a stack closed mid-job leaves them to the process's end."""
        with self._lock:
            return not self._active

    def submit(self, job_id: str) -> None:
        self.queue.put(job_id)

    # ---------------------------------------------------------------------------------------------
    def _reap(self) -> None:
        """Re-queue unfinished jobs nobody holds (startup: resume what a dead gateway left)."""
        while True:
            with self._lock:   # a pass counts as work in progress (see settled)
                if self.stop.is_set():
                    return
                self._active.add(_REAPING)
            try:
                unfinished = self.c.unfinished()
                for state in (jobs.QUEUED, jobs.VALIDATING, jobs.SCORING):
                    metrics.JOBS.labels(state).set(sum(1 for j in unfinished if j.state == state))
                for job in unfinished:
                    with self._lock:
                        busy = job.job_id in self._active
                    if busy or not job.lease_free(self.owner, time.time()):
                        continue
                    if not self.s.adopt_orphans and self._orphan(job):
                        self._end_orphan(job)
                        continue
                    self.queue.put(job.job_id)
            except Exception as exc:  # noqa: BLE001 - storage may be down; try again next tick
                log.warning("reaper_failed", error=str(exc)[:200])
            finally:
                with self._lock:
                    self._active.discard(_REAPING)
            self.stop.wait(self.s.reap_every)

    def _orphan(self, job: jobs.Job) -> bool:
        """Left by another runner that is gone (its lease expired), or never leased for ``orphan_grace``."""
        if job.lease_owner and job.lease_owner != self.owner:
            return True
        return not job.lease_owner and time.time() - _dt.datetime.fromisoformat(job.updated_at).timestamp() > self.s.orphan_grace

    def _end_orphan(self, job: jobs.Job) -> None:
        """An embedded job whose zrc process died: ended with the reason, not resumed by a later command."""
        fresh = self.c.get_job(job.job_id)
        if fresh.final or not fresh.lease_free(self.owner, time.time()) or not self._orphan(fresh):
            return
        self._fail(fresh, f"interrupted while {fresh.state.lower()}: the zrc command that ran this job ended "
                          "before it finished (interrupted, or killed, e.g. out of memory); run the command again. "
                          f"Limits in force: {limits_summary()}")

    def _work(self) -> None:
        while not self.stop.is_set():
            try:
                job_id = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            with self._lock:
                if job_id in self._active or self.stop.is_set():   # stopped: left queued (see settled)
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
                    for key in [k for k in self._inflight if k[0] == job_id]:
                        del self._inflight[key]

    def acquire(self, job_id: str) -> jobs.Job | None:
        """Take the job's lease with a conditional write: however many gateways try at once, one wins; the
        others (and anyone while the lease is held) get None. An expired lease is taken over."""
        job = self.c.get_job(job_id)
        if job.final or not job.lease_free(self.owner, time.time()):
            return None
        previous = job.lease_owner if job.lease_owner != self.owner else ""
        job.take_lease(self.owner, time.time(), self.s.lease_seconds)
        try:
            if job.attempts > self.s.max_attempts:
                self._fail(job, f"gave up after {job.attempts - 1} attempts: the services running this job kept "
                                "stopping before it finished")
                return None
            self.c.put_job(job)
        except jobs.JobConflict:
            log.info("lease_lost_race", job_id=job_id)
            return None
        if previous:
            metrics.LEASE_TAKEOVERS.inc()
            log.info("lease_takeover", previous_owner=previous, attempts=job.attempts)
        return job

    def run(self, job_id: str) -> None:
        with tracing.job_span(job_id):   # one trace per job's work, the job id carried to every service
            self._run(job_id)

    def _run(self, job_id: str) -> None:
        job = self.acquire(job_id)
        if job is None:
            return
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
                    except jobs.JobConflict:
                        log.warning("lease_lost", reason="another gateway took the job over")
                        return   # the next write of the job's own thread fails the same way and stops it
                    except Exception as exc:  # noqa: BLE001
                        log.warning("heartbeat_failed", error=str(exc)[:200])

        hb = threading.Thread(target=heartbeat, daemon=True)
        hb.start()
        try:
            self._steps(job, lock)
        except jobs.JobConflict as exc:   # taken over after our lease expired: the new owner finishes it
            log.warning("lease_lost", reason=str(exc)[:200])
        except Quarantined as exc:
            with lock:
                self._invalid(job, "quarantined", str(exc))
        except grpc.RpcError as exc:
            reason = f"{exc.code().name}: {excerpt(exc.details() or '', 300)}"
            if exc.code() in INPUT_CAUSED:
                with lock:
                    self._invalid(job, "input_rejected", f"the submission was refused: {reason}. Limits in "
                                  f"force: {limits_summary()}")
                return
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
        if self._end(job, jobs.FAILED, reason):
            log.warning("job_failed", reason=reason)

    def _invalid(self, job: jobs.Job, code: str, message: str) -> None:
        """End the job INVALID with one error finding: the input's fault, final, never retried."""
        if job.final:
            return
        job.findings = [{"severity": "error", "code": code, "message": message, "file": None, "line": None}]
        if self._end(job, jobs.INVALID, excerpt(message, 300)):
            log.warning("job_invalid", code=code, reason=excerpt(message, 300))

    def _end(self, job: jobs.Job, state: str, message: str) -> bool:
        """Record a final state; False if another gateway holds the job now (its outcome stands)."""
        job.move(state, message)
        job.lease_owner = ""
        try:
            self.c.put_job(job)
        except jobs.JobConflict:
            log.warning("lease_lost", reason=f"not recording {state}")
            return False
        metrics.JOBS_FINISHED.labels(state).inc()
        return True

    def _counted(self, job: jobs.Job, lock: threading.Lock, counter: str, what: str, fn: Callable, request):
        """Call ``fn`` (Validate or Score), counting each begun call in the job record (``job.starts[counter]``,
        one counter per worker: parts on different scorers in flight when a gateway dies are one crash each).

        A worker (or an embedded CLI) killed by the submission leaves its count up; once ``max_crashes``
        calls have died the job is quarantined instead of crash-looping the service everyone shares. A call
        that never reached a server, or that ended, is taken off the count again.
        """
        deadline = time.monotonic() + self.s.retry_budget
        delay = 0.2
        key = (job.job_id, counter)   # calls of this job in flight here: begun, not (yet) crashed
        while True:
            with lock:
                crashed = job.starts.get(counter, 0) - self._inflight[key]
            if crashed >= self.s.max_crashes:
                raise Quarantined(
                    f"the submission made the {what} fail {crashed} times (killed or timed out, e.g. "
                    f"out of memory); it is not retried. Limits in force: {limits_summary()}")

            def begin() -> None:
                job.starts[counter] = job.starts.get(counter, 0) + 1
                self._inflight[key] += 1
            self._save(job, lock, begin)
            try:
                out = fn(request, timeout=self.s.call_timeout)
            except grpc.RpcError as exc:
                with lock:
                    self._inflight[key] -= 1
                if _never_connected(exc) or exc.code() not in RETRYABLE:
                    self._save(job, lock, lambda: job.starts.__setitem__(counter, job.starts[counter] - 1))
                if exc.code() not in RETRYABLE or time.monotonic() > deadline:
                    raise
                log.info("retrying", method=what, error=excerpt(exc.details() or "", 200))
                self.stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            with lock:
                self._inflight[key] -= 1
                job.starts[counter] -= 1   # saved with the change that follows
            return out

    def _validate(self, job: jobs.Job, sel, lock: threading.Lock | None = None) -> validation_pb2.ValidateResponse:
        """Validation is deterministic too: cached like task results (a re-run does not re-read the archive)."""
        v = cached_validation(self.c, sel, job.dataset_digest)
        if v is None:
            v = self._counted(job, lock or threading.Lock(), "validation", "validator",
                              self.c.validation.Validate, validation_pb2.ValidateRequest(selection=sel))
            remember_validation(self.c, sel, job.dataset_digest, v)
        return v

    def _save(self, job: jobs.Job, lock: threading.Lock, change: Callable[[], None]) -> None:
        with lock:
            change()
            self.c.put_job(job)

    def _steps(self, job: jobs.Job, lock: threading.Lock) -> None:
        """Validate, plan the parts, score them, publish: each step resumes where a dead gateway left off."""
        sel = selection_from_dict(job.selection)
        if job.state == jobs.QUEUED:
            self._save(job, lock, lambda: job.move(jobs.VALIDATING, "validating the submission"))
        if job.state == jobs.VALIDATING and not self._validate_step(job, sel, lock):
            return
        summaries, versions = self._score_parts(job, sel, lock)
        self._publish_step(job, sel, summaries, versions, lock)

    def _validate_step(self, job: jobs.Job, sel, lock: threading.Lock) -> bool:
        """Validate; an invalid submission ends the job INVALID (False), a valid one plans its parts."""
        v = self._validate(job, sel, lock)
        findings, ok = self.publisher.check(job, sel.benchmark, [finding_from_pb(f) for f in v.findings], v.ok,
                                            meta_py(v))
        if not ok and not job.skip_validation:
            n = sum(1 for f in findings if f["severity"] == "error")

            def invalid() -> None:
                job.findings = findings
                job.move(jobs.INVALID, f"the submission is invalid: {n} error(s)")
                job.lease_owner = ""
            self._save(job, lock, invalid)
            metrics.JOBS_FINISHED.labels(jobs.INVALID).inc()
            return False

        def plan() -> None:
            job.findings = findings
            job.params_json, job.meta_json = params_py(v.params).to_json(), json.dumps(meta_py(v))
            job.dataset_digest = v.dataset_digest
            job.parts = [list(p) for p in resolve(sel).parts]
            job.pooled_refs = {f"{p.task} {p.set}": p.ref for p in v.pooled}
            job.move(jobs.SCORING, f"scoring {len(job.parts)} part(s)")
        self._save(job, lock, plan)
        return True

    def _score_parts(self, job: jobs.Job, sel, lock: threading.Lock) -> tuple[list[dict], dict[str, str]]:
        """Every part's summary and each task's scorer version. Parts go to different scorer deployments:
        they run concurrently, at most one per scorer."""
        params = Params.from_json(job.params_json)
        versions: dict[str, str] = {}
        by_scorer: dict[str, list[list[str]]] = {}
        bench = get_benchmark(sel.benchmark)
        for part in job.parts:
            by_scorer.setdefault(bench.task(part[0]).scorer, []).append(part)

        def score(parts: list[list[str]]) -> list[dict]:
            return [self._score_part(job, sel, params, task, set_, versions, lock) for task, set_ in parts]
        with ThreadPoolExecutor(max_workers=max(1, len(by_scorer)), thread_name_prefix="part") as pool:
            # each thread runs in a copy of this context: the job's trace and baggage (and log ids) follow
            futs = [pool.submit(contextvars.copy_context().run, score, ps) for ps in by_scorer.values()]
            return [sm for f in futs for sm in f.result()], versions

    def _score_part(self, job: jobs.Job, sel, params: Params, task: str, set_: str, versions: dict[str, str],
                    lock: threading.Lock) -> dict:
        """One part's summary: its stored result if there is one, else the scorer's (which stores it)."""
        scorer = get_benchmark(sel.benchmark).task(task).scorer
        version = self.c.scorer_version(scorer)
        key = result_key(sel.submission_digest, job.dataset_digest, sel.benchmark, task, set_,
                         params.cache_key(), version)
        cached = self.c.cached_result(key)
        if cached is not None:
            metrics.CACHE_HITS.labels(task, set_).inc()
            summary = cached.summary
        else:
            part_sel = selection_from_dict({**job.selection, "sets": [set_], "tasks": [task]})
            # the scorer stores the result under the key itself (create-only): asked again after a
            # takeover, it answers from it, so each part is scored once however many gateways ask
            # what validation prepared: its params (unless skipped: the scorer then reads params.yaml
            # and refuses a broken one, as validation would have) and the vectors it pooled
            request = scoring_pb2.ScoreRequest(selection=part_sel, skip_validation=job.skip_validation,
                                               result_key=key, pooled_ref=job.pooled_refs.get(f"{task} {set_}", ""))
            if not job.skip_validation:
                request.params.CopyFrom(params_pb(params))
            r = self._counted(job, lock, f"scoring {task}", f"{task} scorer", self.c.scorers[scorer].Score, request)
            if not r.stored:   # a scorer that does not store results itself (an older version)
                self.c.put_result(results_pb2.TaskResult(key=key, task=task, set=set_, files=r.files,
                                                         summary=r.summary, scorer_version=r.scorer_version))
            summary = r.summary
        if f"{task} {set_}" not in job.done:
            self._save(job, lock, lambda: job.part_done(task, set_, key, cached is not None))
        versions[task] = version
        return summary_py(summary)

    def _publish_step(self, job: jobs.Job, sel, summaries: list[dict], versions: dict[str, str],
                      lock: threading.Lock) -> None:
        """The job's entry (and, published, its leaderboard entry), then SUCCEEDED."""
        entry = self.publisher.entry(job, sel.benchmark, summaries, Params.from_json(job.params_json))
        self.publisher.publish(job, sel, entry, summaries, versions)

        def succeeded() -> None:
            job.move(jobs.SUCCEEDED, "published to the leaderboard" if job.publish else "all parts scored")
            job.lease_owner = ""
        self._save(job, lock, succeeded)
        metrics.JOBS_FINISHED.labels(jobs.SUCCEEDED).inc()
        log.info("job_succeeded", parts=len(job.parts))
