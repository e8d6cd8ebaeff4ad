"""The job event hub (zrc.gateway.events) on its own: no server, no storage."""

from __future__ import annotations

import json
import threading
import time

from zrc.core import jobs
from zrc.gateway.events import GOING, JobEvents


class Sink:
    """A watcher that records what it is given; over on the final state (as the gateway's is)."""

    def __init__(self):
        self.got: list = []
        self.done = threading.Event()

    def __call__(self, job):
        self.got.append(job.state if isinstance(job, jobs.Job) else job)   # the state then: tests change jobs
        over = not isinstance(job, jobs.Job) or job.final
        if over:
            self.done.set()
        return over


def _copy(job: jobs.Job):
    d = json.loads(json.dumps(job.to_dict()))
    return lambda: jobs.Job.from_dict(d)


def _job() -> jobs.Job:
    return jobs.Job.new({"benchmark": "sLM21"}, False)


def test_published_records_reach_every_watcher_and_the_final_one_ends_them():
    job = _job()
    fetched: list[str] = []
    hub = JobEvents(lambda job_id: fetched.append(job_id) or job, poll_seconds=60)
    sinks = [Sink() for _ in range(50)]
    first = jobs.Job.from_dict(json.loads(json.dumps(job.to_dict())))   # as fetched: a copy
    for s in sinks:
        hub.watch(job.job_id, s, 60, first)
    assert hub.watched() == 50
    job.move(jobs.VALIDATING, "validating")
    hub.publish(job.job_id, _copy(job))   # as Clients.put_job does: a copy of what was written
    job.move(jobs.FAILED, "gone")
    hub.publish(job.job_id, _copy(job))
    for s in sinks:
        assert s.done.wait(5)
        assert s.got == [jobs.QUEUED, jobs.VALIDATING, jobs.FAILED]
    assert hub.watched() == 0 and not fetched
    hub.stop()


def test_the_poller_reads_each_watched_job_once_per_round_however_many_watch_it():
    """Another gateway's writes reach watchers through one read per job, not one per watcher."""
    job = _job()
    reads: list[str] = []
    changed = threading.Event()

    def fetch(job_id: str) -> jobs.Job:
        reads.append(job_id)
        if changed.is_set() and not job.final:
            job.move(jobs.FAILED, "ended elsewhere")
        return job
    hub = JobEvents(fetch, poll_seconds=0.1)
    sinks = [Sink() for _ in range(20)]
    for s in sinks:
        hub.watch(job.job_id, s, 60, job)
    time.sleep(0.35)
    rounds = len(reads)
    assert 1 <= rounds <= 5   # a few rounds of one read, not 20 reads a round
    changed.set()
    for s in sinks:
        assert s.done.wait(5) and s.got[-1] == jobs.FAILED
    hub.stop()


def test_time_up_and_stop_end_watches_without_a_final_state():
    job = _job()
    hub = JobEvents(lambda _: job, poll_seconds=60)
    short, long_ = Sink(), Sink()
    hub.watch(job.job_id, short, 0.2, job)
    hub.watch(job.job_id, long_, 60, job)
    assert short.done.wait(5) and short.got[-1] is None   # the client reconnects after its last event
    assert hub.watched() == 1
    hub.stop()
    assert long_.done.wait(5) and long_.got[-1] == GOING   # the stream ends UNAVAILABLE: try another gateway
    late = Sink()
    hub.watch(job.job_id, late, 60, job)   # a gateway going away answers at once
    assert late.got == [GOING]


def test_a_cancelled_watch_gets_nothing_more():
    job = _job()
    hub = JobEvents(lambda _: job, poll_seconds=60)
    s = Sink()
    cancel = hub.watch(job.job_id, s, 60, job)
    deadline = time.monotonic() + 5
    while not s.got and time.monotonic() < deadline:
        time.sleep(0.01)
    cancel()
    job.move(jobs.FAILED, "x")
    hub.publish(job.job_id, job)
    time.sleep(0.2)
    assert s.got == [jobs.QUEUED] and hub.watched() == 0
    hub.stop()
