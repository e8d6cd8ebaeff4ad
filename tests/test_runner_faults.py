"""The job runner tells the user's errors from the infrastructure's: the former are final at once.

A fake set of service stubs plays each failure: RESOURCE_EXHAUSTED from the
validator (a message over the size limit), a validator that dies on the job
(UNAVAILABLE after the call was accepted), one that is merely not up yet
(UNAVAILABLE before connecting), a job restarted too often, and a job left by
a dead embedded CLI.
"""

from __future__ import annotations

import json
import time

import grpc
import pytest

from zrc.common.convert import params_pb
from zrc.core import jobs
from zrc.gateway.runner import Clients, Runner, RunnerSettings
from zrc.pb.scoring.v1 import scoring_pb2
from zrc.pb.validation.v1 import validation_pb2

from .fakes import FakeError

SEL = {"submission_digest": "a" * 64, "benchmark": "prosAudit", "dataset": "", "sets": ["dev"],
       "tasks": ["english"]}


class FakeValidation:
    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def Validate(self, request, timeout=None):  # noqa: N802 - gRPC stub name
        self.calls += 1
        out = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(out, Exception):
            raise out
        return out


class FakeResults:
    def GetResult(self, request, timeout=None):  # noqa: N802
        raise FakeError(grpc.StatusCode.NOT_FOUND, "no result")

    def PutResult(self, request, timeout=None):  # noqa: N802
        return None


class FakeClients(Clients):
    def __init__(self, settings: RunnerSettings, validation: FakeValidation):
        self.s = settings
        self.validation = validation
        self.results = FakeResults()
        self.store: dict[str, str] = {}
        self.scorers = {}

    def put_job(self, job):
        self.store[job.job_id] = json.dumps(job.to_dict())

    def get_job(self, job_id):
        return jobs.Job.from_dict(json.loads(self.store[job_id]))

    def unfinished(self):
        return [j for j in map(jobs.Job.from_dict, map(json.loads, self.store.values())) if not j.final]


def _runner(outcomes, **settings) -> tuple[Runner, FakeClients, jobs.Job]:
    s = RunnerSettings(retry_budget=5.0, **settings)
    c = FakeClients(s, FakeValidation(outcomes))
    job = jobs.Job.new(dict(SEL), False)
    c.put_job(job)
    return Runner(c, s, owner="me"), c, job


def test_resource_exhausted_is_invalid_at_once_not_retried():
    r, c, job = _runner([FakeError(grpc.StatusCode.RESOURCE_EXHAUSTED, "message larger than max")])
    r.run(job.job_id)
    done = c.get_job(job.job_id)
    assert done.state == jobs.INVALID and c.validation.calls == 1
    assert done.findings[0]["code"] == "input_rejected" and "ZRC_LIMIT_" in done.findings[0]["message"]


def test_a_job_that_kills_its_validator_twice_is_quarantined():
    r, c, job = _runner([FakeError(grpc.StatusCode.UNAVAILABLE, "Socket closed")], max_crashes=2)
    r.run(job.job_id)
    done = c.get_job(job.job_id)
    assert done.state == jobs.INVALID and c.validation.calls == 2
    assert done.findings[0]["code"] == "quarantined" and "fail 2 times" in done.findings[0]["message"]
    assert "ZRC_LIMIT_" in done.findings[0]["message"]


def test_a_validator_not_up_yet_is_retried_without_counting_crashes():
    refused = FakeError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; Connection refused")
    # what a gateway sees while the killed validator's port still resets connections
    resetting = FakeError(grpc.StatusCode.UNAVAILABLE, "connections to all backends failing; last error: "
                          "UNAVAILABLE: ipv4:127.0.0.1:1: recvmsg:Connection reset by peer (104)")
    killed = FakeError(grpc.StatusCode.UNAVAILABLE, "Stream removed (Socket closed)")
    answer = validation_pb2.ValidateResponse(ok=False)
    r, c, job = _runner([killed, resetting, refused, refused, answer], max_crashes=2)
    r.run(job.job_id)
    done = c.get_job(job.job_id)
    assert c.validation.calls == 5 and done.state == jobs.INVALID and done.starts == {"validation": 1}   # one crash
    assert not done.findings   # an ordinary outcome, not a quarantine: one crash is an infrastructure fault


class FakeScorer:
    def __init__(self, error):
        self.error, self.calls = error, 0

    def Describe(self, request, timeout=None):  # noqa: N802
        return scoring_pb2.DescribeResponse(scorer_version="1")

    def Score(self, request, timeout=None):  # noqa: N802
        self.calls += 1
        raise self.error


def test_a_job_that_kills_its_scorer_twice_is_quarantined():
    from zrc.core.params import Params

    ok = validation_pb2.ValidateResponse(ok=True, params=params_pb(Params(benchmark="prosAudit")),
                                         dataset_digest="d")
    r, c, job = _runner([ok], max_crashes=2)
    c.scorers = {"prosaudit": FakeScorer(FakeError(grpc.StatusCode.UNAVAILABLE, "Socket closed"))}
    r.run(job.job_id)
    done = c.get_job(job.job_id)
    assert done.state == jobs.INVALID and c.scorers["prosaudit"].calls == 2
    assert "english scorer fail 2 times" in done.findings[0]["message"]


def test_calls_in_flight_are_not_counted_as_crashes():
    """Parts score concurrently: three Score calls under way at once are not three crashes."""
    import threading

    r, c, job = _runner([validation_pb2.ValidateResponse(ok=True)], max_crashes=2)
    lock = threading.Lock()
    done = []

    def slow(request, timeout=None):
        time.sleep(0.4)
        return "scored"

    threads = [threading.Thread(target=lambda: done.append(r._counted(job, lock, "scoring lexical", "scorer",
                                                                        slow, None))) for _ in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert done == ["scored"] * 3 and job.starts == {"scoring lexical": 0}


def test_one_crash_on_each_of_several_scorers_is_not_a_quarantine():
    """A gateway that dies while three parts are scored leaves one begun call per scorer: not two crashes."""
    from zrc.core.params import Params

    sel = dict(SEL, benchmark="sLM21", tasks=["lexical", "syntactic"])
    ok = validation_pb2.ValidateResponse(ok=True, params=params_pb(Params(benchmark="sLM21")),
                                         dataset_digest="d")
    r, c, job = _runner([ok], max_crashes=2)
    job.selection = sel
    job.starts = {"scoring lexical": 1, "scoring syntactic": 1}
    c.put_job(job)
    dead = FakeError(grpc.StatusCode.UNAVAILABLE, "Socket closed")
    c.scorers = {"lexical": FakeScorer(dead), "syntactic": FakeScorer(dead)}
    r.run(job.job_id)
    # each scorer was tried once more (1 earlier crash each is under the limit), then quarantined at 2
    assert c.scorers["lexical"].calls == 1 and c.scorers["syntactic"].calls == 1
    assert c.get_job(job.job_id).state == jobs.INVALID


def test_a_crash_counted_in_a_previous_run_survives_a_gateway_restart():
    r, c, job = _runner([FakeError(grpc.StatusCode.UNAVAILABLE, "Connection reset by peer")], max_crashes=2)
    job.state, job.starts = jobs.VALIDATING, {"validation": 1}   # a gateway died while its Validate ran
    c.put_job(job)
    r.run(job.job_id)
    assert c.get_job(job.job_id).state == jobs.INVALID and c.validation.calls == 1


def test_attempts_are_capped():
    r, c, job = _runner([validation_pb2.ValidateResponse(ok=True)], max_attempts=3)
    job.attempts, job.lease_owner, job.lease_expires = 3, "dead-gateway", time.time() - 1
    c.put_job(job)
    r.run(job.job_id)
    done = c.get_job(job.job_id)
    assert done.state == jobs.FAILED and "gave up after 3 attempts" in done.failure_reason
    assert c.validation.calls == 0


@pytest.mark.parametrize("adopt", [False, True])
def test_embedded_runner_ends_jobs_of_a_dead_cli_instead_of_resuming_them(adopt):
    r, c, job = _runner([validation_pb2.ValidateResponse(ok=True)], adopt_orphans=adopt, reap_every=0.05)
    job.state, job.lease_owner, job.lease_expires = jobs.VALIDATING, "dead-cli", time.time() - 1
    c.put_job(job)
    t0 = time.time()
    r.queue.put = lambda job_id: None   # only the reaper's decision is under test
    import threading
    threading.Thread(target=r._reap, daemon=True).start()
    while time.time() - t0 < 2 and not c.get_job(job.job_id).final:
        time.sleep(0.05)
    r.shutdown()
    done = c.get_job(job.job_id)
    if adopt:
        assert not done.final   # servers resume what a dead gateway left
    else:
        assert done.state == jobs.FAILED and "interrupted while validating" in done.failure_reason


@pytest.mark.integration
def test_a_later_zrc_command_ends_the_job_a_killed_one_left_validating(tmp_path):
    """The embedded case end to end: a job left VALIDATING by a dead process (its lease expired) is ended
    with the reason by the next command's stack, never validated again inside it."""
    from zrc.client import Client
    from zrc.embedded import start_embedded
    from zrc.pb.gateway.v1 import gateway_pb2
    from zrc.storage import RESULTS
    from zrc.storage.local import LocalStorage

    home = tmp_path / "home"
    store = LocalStorage(home / "store")
    store.ensure_buckets()
    job = jobs.Job.new(dict(SEL), False)
    job.state, job.lease_owner, job.lease_expires = jobs.VALIDATING, "dead", time.time() - 60
    job.starts = {"validation": 1}
    store.put_bytes(RESULTS, f"jobs/{job.job_id}.json", json.dumps(job.to_dict()).encode())
    store.put_bytes(RESULTS, f"open/{job.job_id}", b"")
    emb = start_embedded(home)
    try:
        with Client(emb.address) as c:
            deadline = time.time() + 20
            while time.time() < deadline and c.get_job(job.job_id).state == gateway_pb2.JOB_STATE_VALIDATING:
                time.sleep(0.2)
            done = c.get_job(job.job_id)
    finally:
        emb.close()
    assert "interrupted while validating" in done.failure_reason and "ZRC_LIMIT_" in done.failure_reason
