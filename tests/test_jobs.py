"""Job records: the state machine (core/jobs.py) and the compare-and-set on their revision (results service).

A status only moves forward and a final one never changes; of two gateways writing the same job from the
same revision exactly one wins, which is what lets a gateway that lost its lease stop instead of undoing
the new owner's work.
"""

from __future__ import annotations

import json
import threading

import pytest

from zrc.common.convert import job_pb
from zrc.core import jobs
from zrc.core.errors import InvalidArgument
from zrc.core.jobs import (
    FAILED,
    INVALID,
    QUEUED,
    SCORING,
    SUCCEEDED,
    VALIDATING,
    Job,
    JobConflict,
    TransitionError,
)
from zrc.pb.results.v1 import results_pb2
from zrc.results.server import ResultsServicer
from zrc.storage import RESULTS
from zrc.storage.local import LocalStorage

SEL = {"submission_digest": "c" * 64, "benchmark": "sLM21", "dataset": "", "sets": ["dev"], "tasks": ["lexical"]}


def new() -> Job:
    return Job.new(dict(SEL), skip_validation=False)


@pytest.mark.parametrize("path", [
    [VALIDATING, SCORING, SUCCEEDED],
    [VALIDATING, INVALID],
    [VALIDATING, SCORING, FAILED],
    [FAILED],                       # from any non-final state
    [VALIDATING, VALIDATING],       # staying put (a resumed step) is allowed
])
def test_allowed_transitions_move_forward_and_record_an_event(path):
    job = new()
    for state in path:
        job.move(state, f"to {state}")
    assert job.state == path[-1] and job.final == (path[-1] in jobs.FINAL)
    assert [e["state"] for e in job.events] == [QUEUED, *path]
    assert [e["seq"] for e in job.events] == list(range(len(path) + 1)), "watchers resume after a seq"


@pytest.mark.parametrize("before,after", [(SCORING, VALIDATING), (SCORING, QUEUED), (VALIDATING, QUEUED)])
def test_a_status_never_goes_backwards(before, after):
    job = new()
    job.move(VALIDATING, "")
    if before == SCORING:
        job.move(SCORING, "")
    with pytest.raises(TransitionError, match="backwards"):
        job.move(after, "")
    assert job.state == before and len(job.events) == (3 if before == SCORING else 2)


@pytest.mark.parametrize("final", sorted(jobs.FINAL))
@pytest.mark.parametrize("to", [QUEUED, VALIDATING, SCORING, SUCCEEDED, INVALID, FAILED])
def test_a_final_state_is_final(final, to):
    job = new()
    job.move(final, "done")
    with pytest.raises(TransitionError, match=f"already {final}"):
        job.move(to, "again")
    assert job.state == final


def test_a_record_round_trips_and_ignores_fields_it_does_not_know():
    job = new()
    job.move(VALIDATING, "validating")
    job.part_done("lexical", "dev", "k" * 64, cached=True)
    d = json.loads(json.dumps(job.to_dict()))
    assert Job.from_dict({**d, "written_by_a_newer_version": 1}) == job
    assert job.events[-1]["message"] == "lexical dev scored (cached)" and job.done == {"lexical dev": "k" * 64}


def test_leases_expire_and_count_attempts():
    job = new()
    assert job.lease_free("gw1", at=100.0)
    job.take_lease("gw1", at=100.0, seconds=30)
    assert job.attempts == 1 and job.lease_free("gw1", at=110.0) and not job.lease_free("gw2", at=110.0)
    job.take_lease("gw1", at=110.0, seconds=30)   # a heartbeat: not a new attempt
    assert job.attempts == 1
    assert job.lease_free("gw2", at=141.0), "an expired lease is anyone's"
    job.take_lease("gw2", at=141.0, seconds=30)
    assert job.attempts == 2 and job.lease_owner == "gw2"


# ---------------------------------------------------------------- revision compare-and-set (results service)

@pytest.fixture()
def results(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.ensure_buckets()
    return ResultsServicer(storage), storage


def put(servicer, job: Job, expected: int) -> None:
    """One conditional write of ``job`` as the runner makes it: revision = expected + 1."""
    job.revision = expected + 1
    servicer.PutJob(results_pb2.PutJobRequest(job=job_pb(job.to_dict()), conditional=True,
                                              expected_revision=expected), None)


def stored(storage, job: Job) -> Job:
    return Job.from_dict(json.loads(storage.get_bytes(RESULTS, f"jobs/{job.job_id}.json")))


def test_each_write_must_name_the_revision_it_read(results):
    servicer, storage = results
    job = new()
    put(servicer, job, 0)
    job.move(VALIDATING, "")
    put(servicer, job, 1)
    assert stored(storage, job).revision == 2 and stored(storage, job).state == VALIDATING
    stale = stored(storage, job)
    stale.move(FAILED, "from an old copy")
    with pytest.raises(JobConflict, match="revision 2 is stored, not 1"):
        put(servicer, stale, 1)
    assert stored(storage, job).state == VALIDATING, "the loser's write is not kept"


def test_a_second_creation_of_the_same_job_loses(results):
    servicer, _ = results
    job = new()
    put(servicer, job, 0)
    with pytest.raises(JobConflict, match="revision 1 is stored, not 0"):
        put(servicer, _other_copy(job), 0)


def _other_copy(job: Job) -> Job:
    other = Job.from_dict(job.to_dict())
    other.owner = "someone-else"
    return other


def test_a_retried_write_whose_answer_was_lost_is_accepted(results):
    servicer, storage = results
    job = new()
    put(servicer, job, 0)
    put(servicer, job, 0)   # the very same bytes at the same revision: done already
    assert stored(storage, job).revision == 1


def test_a_revision_that_does_not_follow_is_a_bad_request(results):
    servicer, _ = results
    job = new()
    job.revision = 5
    with pytest.raises(InvalidArgument, match="does not follow"):
        servicer.PutJob(results_pb2.PutJobRequest(job=job_pb(job.to_dict()), conditional=True,
                                                  expected_revision=0), None)


def test_of_two_gateways_writing_from_the_same_revision_exactly_one_wins(results):
    servicer, storage = results
    job = new()
    put(servicer, job, 0)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def gateway(i: int) -> None:
        mine = stored(storage, job)
        mine.take_lease(f"gw{i}", at=0.0, seconds=30)
        barrier.wait()
        try:
            put(servicer, mine, 1)
            outcomes.append(f"gw{i}")
        except JobConflict:
            outcomes.append("lost")

    threads = [threading.Thread(target=gateway, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o != "lost"]
    assert len(winners) == 1 and stored(storage, job).lease_owner == winners[0]


def test_only_unfinished_jobs_are_marked_open(results):
    servicer, storage = results
    job = new()
    put(servicer, job, 0)
    assert storage.exists(RESULTS, f"open/{job.job_id}")
    job.move(INVALID, "bad")
    put(servicer, job, 1)
    assert not storage.exists(RESULTS, f"open/{job.job_id}")
