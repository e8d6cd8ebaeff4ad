"""The Kubernetes topology on the local stack: 3 gateways, 2 replicas of validation and of every scorer.

Clients spread over the gateways (ZRC_SERVERS), gateways round-robin over the replicas, and every part is
scored exactly once however many gateways share the job queue: the scorers' zrc_scoring_parts_total adds up
to the parts requested. A gateway killed with its jobs queued loses none of them.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from zrc.client import Client
from zrc.core.dataset import load_dataset
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree
from zrc.pb.gateway.v1 import gateway_pb2
from zrc.stack import Stack, read_env

from .conftest import running_stack

pytestmark = pytest.mark.timeout(600)
SUCCEEDED = gateway_pb2.JOB_STATE_SUCCEEDED
SEL = {"sets": ["dev"], "tasks": ["lexical", "syntactic"]}


@pytest.fixture(scope="module")
def topo(tmp_path_factory, slm21_case):
    with running_stack(tmp_path_factory.mktemp("topo"), {"ZRC_JOB_LEASE_SECONDS": "3", "ZRC_REAP_SECONDS": "1"},
                       slm21_case, gateways=3, replicas=2) as st:
        yield st


def parts_scored(st: Stack) -> float:
    total = 0.0
    for name, port in st.metrics_ports.items():
        if not name.startswith("scoring-"):
            continue
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        total += sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                     if s.name == "zrc_scoring_parts_total")
    return total


def copies(sub, tmp_path, n):
    out = []
    for i in range(n):
        d = tmp_path / f"sub-{i}"
        shutil.copytree(sub, d)
        (d / "notes.md").write_text(f"copy {i} {time.time_ns()}\n")   # another digest: nothing cached
        out.append(d)
    return out


def test_env_lists_every_gateway_and_replica(topo):
    env = read_env(topo.root / "env")
    assert env["ZRC_SERVERS"].split() == topo.servers and len(topo.servers) == 3
    assert env["ZRC_SERVER"] == topo.servers[0]
    assert env["ZRC_VALIDATION_ADDR"].startswith("ipv4:") and env["ZRC_VALIDATION_ADDR"].count(",") == 1
    assert env["ZRC_SCORER_SEMANTIC_ADDR"].count(",") == 1
    assert len((topo.root / "metrics").read_text().split()) == 1 + 2 + 8 + 3
    # a shell sourcing the file sees the same values (ZRC_SERVERS holds spaces)
    shown = subprocess.run(["sh", "-c", f'set -a; . "{topo.root / "env"}"; printf %s "$ZRC_SERVERS"'],
                           capture_output=True, text=True, check=True)
    assert shown.stdout == env["ZRC_SERVERS"] and not shown.stderr


def test_jobs_over_three_gateways_score_each_part_once(topo, slm21_case, tmp_path):
    dataset_dir, sub = slm21_case
    core = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21", **SEL).files()
    before = parts_scored(topo)
    clients = [Client(s, token=topo.admin_token, ca_file=topo.ca_file) for s in topo.servers]
    try:
        jobs = []
        for i, d in enumerate(copies(sub, tmp_path, 6)):
            c = clients[i % 3]
            jobs.append((c, c.evaluate(c.upload_folder(d).digest, "sLM21", **SEL)))
        for c, job_id in jobs:
            job = c.wait(job_id, timeout=300)
            assert job.state == SUCCEEDED, job.failure_reason
            files = {f.name: f.content for f in clients[0].get_scores(job_id).files}   # any gateway answers
            assert {k: v for k, v in files.items() if k in core} == core
    finally:
        for c in clients:
            c.close()
    assert parts_scored(topo) - before == 6 * 2, "every (task, set) part scored exactly once"


def test_a_gateway_killed_with_queued_jobs_loses_none(topo, slm21_case, tmp_path):
    _, sub = slm21_case
    victim = Client(topo.servers[2], token=topo.admin_token, ca_file=topo.ca_file)
    try:
        ids = [victim.evaluate(victim.upload_folder(d).digest, "sLM21", **SEL) for d in copies(sub, tmp_path, 3)]
    finally:
        victim.close()
    topo.stop("gateway-3", sig=signal.SIGKILL)
    with Client(topo.servers[0], token=topo.admin_token, ca_file=topo.ca_file) as c:
        for job_id in ids:
            job = c.wait(job_id, timeout=300)
            assert job.state == SUCCEEDED, job.failure_reason
