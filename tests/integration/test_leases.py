"""Exactly-once job ownership: a job record is written by compare-and-set on its revision, through the real
results service over gRPC, on both storage backends (the S3 one a real SeaweedFS server).

However many gateways race for a job, exactly one takes it; a gateway whose lease expired and was taken over
cannot write the job again (it stops); a retried write whose answer was lost is not a conflict.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from zrc.common import runtime
from zrc.common.convert import job_pb
from zrc.core import jobs
from zrc.gateway.runner import Clients, Runner, RunnerSettings
from zrc.pb.results.v1 import results_pb2
from zrc.results.server import register
from zrc.storage.local import LocalStorage

pytestmark = pytest.mark.timeout(180)
SCORERS = {t: "127.0.0.1:9" for t in ("lexical", "syntactic", "semantic", "prosaudit")}   # never called


@pytest.fixture(params=["local", "s3"])
def results_addr(request, tmp_path):
    if request.param == "local":
        storage = LocalStorage(tmp_path)
        storage.ensure_buckets()
    else:
        storage = request.getfixturevalue("s3")
    server, port, _, stop = runtime.start_server("results", register(storage), "127.0.0.1:0", 16, storage)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop.set()
        server.stop(0).wait()


def gateway(addr: str, lease: float = 30.0) -> Runner:
    settings = RunnerSettings(lease_seconds=lease, retry_budget=5.0)
    return Runner(Clients("127.0.0.1:9", addr, SCORERS, settings), settings)


def new_job(runner: Runner) -> str:
    job = jobs.Job.new({"submission_digest": "0" * 64, "benchmark": "sLM21", "dataset": "d", "sets": ["dev"],
                        "tasks": ["lexical"]}, False, owner="alice")
    runner.c.put_job(job)
    assert job.revision == 1
    return job.job_id


def test_of_many_gateways_racing_for_a_job_exactly_one_takes_it(results_addr):
    gateways = [gateway(results_addr) for _ in range(12)]
    try:
        job_id = new_job(gateways[0])
        barrier = threading.Barrier(len(gateways))

        def take(g: Runner):
            barrier.wait()
            return g.acquire(job_id)

        with ThreadPoolExecutor(len(gateways)) as pool:
            won = [j for j in pool.map(take, gateways) if j is not None]
        assert len(won) == 1
        stored = gateways[0].c.get_job(job_id)
        assert stored.lease_owner == won[0].lease_owner and stored.attempts == 1 and stored.revision == 2
        assert all(g.acquire(job_id) is None for g in gateways if g.owner != stored.lease_owner), "lease held"
    finally:
        for g in gateways:
            g.c.close()


def test_an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_write(results_addr):
    a, b = gateway(results_addr, lease=0.5), gateway(results_addr, lease=30)
    try:
        job_id = new_job(a)
        mine = a.acquire(job_id)
        assert mine is not None and b.acquire(job_id) is None
        time.sleep(0.7)                               # a stalls past its lease
        theirs = b.acquire(job_id)
        assert theirs is not None and theirs.attempts == 2
        mine.move(jobs.VALIDATING, "validating")      # a wakes up and tries to go on
        with pytest.raises(jobs.JobConflict):
            a.c.put_job(mine)
        assert b.c.get_job(job_id).lease_owner == b.owner and b.c.get_job(job_id).state == jobs.QUEUED
        theirs.move(jobs.VALIDATING, "validating")
        b.c.put_job(theirs)                           # the new owner goes on
        assert b.c.get_job(job_id).revision == theirs.revision == 4
    finally:
        a.c.close()
        b.c.close()


def test_a_replayed_write_is_not_a_conflict_and_a_new_job_id_cannot_be_created_twice(results_addr):
    g = gateway(results_addr)
    try:
        job_id = new_job(g)
        job = g.c.get_job(job_id)
        job.move(jobs.VALIDATING, "validating")
        job.revision += 1
        req = results_pb2.PutJobRequest(job=job_pb(job.to_dict()), conditional=True,
                                        expected_revision=job.revision - 1)
        g.c.results.PutJob(req, timeout=10)
        g.c.results.PutJob(req, timeout=10)           # the same write again: its first answer was lost
        again = jobs.Job.new(job.selection, False)
        again.job_id = job_id
        with pytest.raises(jobs.JobConflict):
            g.c.put_job(again)                        # revision 0 -> 1 over an existing record
        with pytest.raises(grpc.RpcError) as err:
            g.c.results.PutJob(results_pb2.PutJobRequest(job=req.job, conditional=True,
                                                         expected_revision=5), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT   # revision must follow the expected one
    finally:
        g.c.close()
