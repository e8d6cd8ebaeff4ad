"""Load test of the server topology: USERS users submit JOBS distinct small submissions at once through a
local stack of GATEWAYS gateways and REPLICAS replicas of validation and every scorer (`make loadtest`).

Prints throughput, p50/p95 job latency (Evaluate to final state), errors, and the parts the scorers computed
(their zrc_scoring_parts_total) against the parts requested: with exactly-once job ownership they are equal,
also with --kill-gateway (one gateway SIGKILLed while its jobs run). Each job's score files are compared with
the evaluation core's. Exit 0 only if every job succeeded with the core's files and the parts add up.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SEL = {"sets": ["dev"], "tasks": ["lexical", "syntactic"]}


def parts_scored(st) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for name, port in st.metrics_ports.items():
        if name.startswith("scoring-"):
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
            total += sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                         if s.name == "zrc_scoring_parts_total")
    return total


def run(users: int, jobs: int, gateways: int, replicas: int, kill_gateway: bool, root: Path) -> dict:
    from zrc.client import Client
    from zrc.core.dataset import load_dataset
    from zrc.core.generate import GenOptions, generate
    from zrc.core.pipeline import evaluate
    from zrc.core.sources import DirTree
    from zrc.pb.gateway.v1 import gateway_pb2
    from zrc.stack import Stack

    FINAL = (gateway_pb2.JOB_STATE_SUCCEEDED, gateway_pb2.JOB_STATE_INVALID, gateway_pb2.JOB_STATE_FAILED)
    dataset_dir, sub = generate(root / "case", "sLM21", GenOptions(scale=0.005, seed=3, dim=6, frames=(2, 6)))
    core = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21", **SEL).files()
    names = [f"user{i}" for i in range(users)]
    subs = []
    for i in range(jobs):
        d = root / f"sub-{i}"
        shutil.copytree(sub, d)
        meta = d / "meta.yaml"
        meta.write_text(meta.read_text().replace("username: demo", f"username: {names[i % users]}"))
        (d / "notes.md").write_text(f"load {i}\n")       # a distinct archive: nothing comes from a cache
        subs.append(d)
    st = Stack(root / "stack", gateways=gateways, replicas=replicas,
               extra_env={"ZRC_JOB_LEASE_SECONDS": "4", "ZRC_REAP_SECONDS": "1",
                          "ZRC_QUOTA_PER_DAY": str(jobs + 1)})
    out: dict = {"users": users, "jobs": jobs, "gateways": gateways, "replicas": replicas,
                 "killed_gateway": kill_gateway}
    try:
        st.up()
        with st.client(token=st.admin_token) as admin:
            admin.import_dataset(dataset_dir, "sLM21-dataset")
            tokens = {}
            for n in names:
                admin.create_user(n)
                tokens[n] = admin.create_token(n)
        before = parts_scored(st)
        errors: list[str] = []
        latencies: list[float] = []
        lock = threading.Lock()
        started = threading.Event()      # every job created (and running or queued)
        submitted: list[str] = []

        one_upload = {n: threading.Lock() for n in names}   # a user's uploads go one at a time, as from one CLI
        survivors = st.servers[:-1] if kill_gateway and gateways > 1 else st.servers

        def one(i: int) -> None:
            user, server = names[i % users], st.servers[i % gateways]
            try:
                with Client(server, token=tokens[user], ca_file=st.ca_file) as c:
                    with one_upload[user]:
                        digest = c.upload_folder(subs[i]).digest
                    t0 = time.perf_counter()
                    job_id = c.evaluate(digest, "sLM21", **SEL)
                with lock:
                    submitted.append(job_id)
                    if len(submitted) == jobs:
                        started.set()
                # every job is in flight at once; they are polled (GetJob), not watched: 30 watch streams
                # would exceed the gateways' per-user stream bound, which is there on purpose
                with Client(survivors[i % len(survivors)], token=tokens[user], ca_file=st.ca_file) as c:
                    deadline = time.monotonic() + 600
                    while True:
                        job = c.get_job(job_id)
                        if job.state in FINAL or time.monotonic() > deadline:
                            break
                        time.sleep(0.5)
                    dt = time.perf_counter() - t0
                    if job.state != gateway_pb2.JOB_STATE_SUCCEEDED:
                        raise RuntimeError(f"job {job_id[:8]} {gateway_pb2.JobState.Name(job.state)}: "
                                           f"{job.failure_reason}")
                    files = {f.name: f.content for f in c.get_scores(job_id).files}
                    if {k: v for k, v in files.items() if k in core} != core:
                        raise RuntimeError(f"job {job_id[:8]}: score files differ from the core's")
                with lock:
                    latencies.append(dt)
            except Exception as exc:  # noqa: BLE001 - counted and shown
                with lock:
                    errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")

        t = time.perf_counter()
        with ThreadPoolExecutor(min(jobs, 32)) as pool:
            futs = [pool.submit(one, i) for i in range(jobs)]
            if kill_gateway and gateways > 1:
                started.wait(300)
                time.sleep(0.3)   # the last jobs under way: the victim holds some of them
                st.stop(st.processes("gateway")[-1], sig=signal.SIGKILL)
            for f in futs:
                f.result()
        wall = time.perf_counter() - t
        out.update(wall_s=round(wall, 2), throughput_jobs_per_min=round(60 * len(latencies) / wall, 1),
                   p50_s=round(statistics.median(latencies), 2) if latencies else None,
                   p95_s=round(statistics.quantiles(latencies, n=20)[-1], 2) if len(latencies) >= 2 else None,
                   succeeded=len(latencies), errors=errors, parts_requested=jobs * len(SEL["sets"]) * len(SEL["tasks"]),
                   parts_scored=int(parts_scored(st) - before))
    finally:
        st.down()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=30)
    ap.add_argument("--gateways", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--kill-gateway", action="store_true", help="SIGKILL one gateway while the jobs run")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zrc-load-") as tmp:
        r = run(a.users, a.jobs, a.gateways, a.replicas, a.kill_gateway, Path(tmp))
    ok = not r["errors"] and r["succeeded"] == a.jobs and r["parts_scored"] == r["parts_requested"]
    if a.json:
        print(json.dumps({**r, "ok": ok}))
    else:
        print(f"load: {a.users} users, {a.jobs} jobs, {a.gateways} gateways x {a.replicas} replicas"
              f"{', one gateway killed mid-run' if a.kill_gateway else ''}")
        print(f"  wall {r['wall_s']} s, throughput {r['throughput_jobs_per_min']} jobs/min, "
              f"latency p50 {r['p50_s']} s, p95 {r['p95_s']} s")
        print(f"  succeeded {r['succeeded']}/{a.jobs}, errors {len(r['errors'])}, "
              f"parts scored {r['parts_scored']} of {r['parts_requested']} requested")
        for e in r["errors"][:10]:
            print(f"  error: {e}")
        print(f"load: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
