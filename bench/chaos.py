"""The fault and abuse suite: one table of what bad inputs and infrastructure faults do to the service.

``make chaos`` (``--mode stack``): every service as its own process over a real
S3 server; 26 classes of malformed archives x ``--variants`` (8: 208 archives),
three kinds of special files given to the CLI, and the faults: each service
killed mid-job, the gateway restarted mid-upload, S3 paused, two gateways
racing for the same jobs. ``--mode embedded`` runs the inputs through the
in-process stack (the reduced form CI runs, see tests/test_chaos.py).

Each row counts jobs lost (gone, or an error that is not the input's), stuck
(not final in time), wrong (another outcome than the expected finding or
scores), tracebacks in the service logs, INTERNAL errors, and the peak RSS
(VmHWM) of the services. The exit status is 0 only if every count is zero and
every peak is under ``--rss-limit-mb``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import abuse  # noqa: E402

from zrc.client import Client, build_archive  # noqa: E402
from zrc.pb.gateway.v1 import gateway_pb2  # noqa: E402

INVALID, SUCCEEDED = gateway_pb2.JOB_STATE_INVALID, gateway_pb2.JOB_STATE_SUCCEEDED
FINAL = {INVALID, SUCCEEDED, gateway_pb2.JOB_STATE_FAILED}
# classes whose archive the gateway refuses at upload (not a zip: checked from its tail), INVALID_ARGUMENT
REFUSED_AT_UPLOAD = {"not_a_zip", "truncated_zip"}
# classes that are only warnings for benchmarks:run (BOM stripped; meta.yaml is strict only when publishing)
SUCCEED = {"bom", "meta_nan"}
LIMIT_ENV = {"ZRC_LIMIT_MEMBERS": "5000"}   # see abuse.many_members


@dataclass
class Row:
    name: str
    jobs: int = 0
    lost: int = 0
    stuck: int = 0
    wrong: int = 0
    tracebacks: int = 0
    internal: int = 0
    rss_mb: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.stuck or self.wrong or self.tracebacks or self.internal)


# --------------------------------------------------------------------------------------------- helpers

def generate_case(out: Path, scale: float) -> tuple[Path, Path]:
    from zrc.core.generate import GenOptions, generate
    return generate(out, "sLM21", GenOptions(scale=scale, seed=5, dim=8, frames=(2, 6)))


def write_archives(sub: Path, out: Path, variants: int) -> None:
    """Every malformed archive to ``out`` (run in a child process: building bombs is not the service's cost)."""
    base_zip = out / "base.zip"
    build_archive(sub, base_zip)
    base = abuse.members(base_zip.read_bytes())
    for cls, v in abuse.variants(variants):
        (out / f"{cls.name}--{v}.zip").write_bytes(cls.make(base, v))


def tracebacks(logs: list[Path]) -> int:
    n = 0
    for p in logs:
        with contextlib.suppress(OSError):
            n += p.read_bytes().count(b"Traceback")
    return n


def vm_hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Peaks:
    """Peak RSS per service, kept across restarts (sampled before a kill and at the end)."""

    def __init__(self):
        self.mb: dict[str, float] = {}

    def sample(self, procs: dict[str, subprocess.Popen]) -> float:
        for name, p in procs.items():
            if name != "s3" and p.poll() is None:
                self.mb[name] = max(self.mb.get(name, 0.0), vm_hwm_mb(p.pid))
        return max(self.mb.values(), default=0.0)


def wait_final(client: Client, job_id: str, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            job = client.get_job(job_id)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                time.sleep(0.5)
                continue
            raise
        if job.state in FINAL:
            return job
        time.sleep(0.2)
    return None


# ---------------------------------------------------------------------------------------------- inputs

def run_inputs(client: Client, archives: Path, logs: list[Path], sample, timeout: float) -> list[Row]:
    rows: dict[str, Row] = {}
    expect = {c.name: set(c.expect) for c in abuse.CLASSES}
    for path in sorted(archives.glob("*--*.zip")):
        name = path.name.split("--")[0]
        row = rows.setdefault(name, Row(name))
        row.jobs += 1
        tb = tracebacks(logs)
        try:
            outcome = _one_input(client, path, name, expect[name], timeout)
        except grpc.RpcError as exc:
            outcome = ("internal" if exc.code() == grpc.StatusCode.INTERNAL else "lost",
                       f"{exc.code().name}: {(exc.details() or '')[:100]}")
        if outcome is not None:
            kind, note = outcome
            setattr(row, kind, getattr(row, kind) + 1)
            if len(row.notes) < 2:
                row.notes.append(note)
        row.tracebacks += tracebacks(logs) - tb
        row.rss_mb = max(row.rss_mb, sample())
    return list(rows.values())


def _one_input(client: Client, path: Path, name: str, codes: set[str], timeout: float):
    """None if the outcome is the expected one, else (counter, note)."""
    try:
        up = client.upload_archive(path)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and name in REFUSED_AT_UPLOAD:
            return None
        return ("internal" if exc.code() == grpc.StatusCode.INTERNAL else "wrong",
                f"upload {exc.code().name}: {(exc.details() or '')[:80]}")
    if name in REFUSED_AT_UPLOAD and name == "not_a_zip":
        return ("wrong", "a non-zip was accepted at upload")
    job_id = client.evaluate(up.digest, "sLM21")
    job = wait_final(client, job_id, timeout)
    if job is None:
        return ("stuck", f"job {job_id[:8]} not final after {timeout:.0f} s")
    if "internal" in job.failure_reason.lower():
        return ("internal", job.failure_reason[:100])
    got = {f.code for f in job.findings}
    if name in SUCCEED:
        return None if job.state == SUCCEEDED else ("wrong", f"{job.state} {sorted(got)[:3]}")
    if job.state == INVALID and (got & codes or name in REFUSED_AT_UPLOAD):
        return None
    return ("wrong", f"state {gateway_pb2.JobState.Name(job.state)} codes {sorted(got)[:4]} "
                     f"{job.failure_reason[:60]}")


def run_cli_cases(case_sub: Path, work: Path, env: dict[str, str]) -> list[Row]:
    """Special files given to the CLI: a clear message and exit 2, no traceback, no hang."""
    rows = []
    for name, mutate in abuse.folder_cases(case_sub).items():
        row = Row(f"cli_{name}", jobs=1)
        d = work / f"cli-{name}"
        shutil.copytree(case_sub, d)
        mutate(d)
        try:
            r = subprocess.run([sys.executable, "-m", "zrc.cli.main", "benchmarks:run", "sLM21", str(d), "-q"],
                               capture_output=True, text=True, timeout=60, env={**os.environ, **env})
            if r.returncode == 0:
                row.wrong += 1
                row.notes.append("accepted")
            row.tracebacks += r.stderr.count("Traceback")
            if "internal" in r.stderr.lower():
                row.internal += 1
            row.notes.append(r.stderr.strip().splitlines()[-1][:90] if r.stderr.strip() else "")
        except subprocess.TimeoutExpired:
            row.stuck += 1
            row.notes.append("hung")
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- faults

def run_faults(st, client: Client, sub: Path, work: Path, peaks: Peaks, pause_s3: float) -> list[Row]:
    from zrc.core.dataset import load_dataset
    from zrc.core.pipeline import evaluate
    from zrc.core.sources import DirTree

    ev = evaluate(load_dataset(str(st.dataset_dir)), DirTree(sub), "sLM21")
    want = ev.files()
    logs = sorted((st.root / "logs").glob("*.log"))
    rows: list[Row] = []

    def fresh() -> str:
        d = work / f"fresh-{time.monotonic_ns()}"
        shutil.copytree(sub, d)
        (d / "notes.md").write_text(f"{time.time_ns()}\n")
        return client.upload_folder(d).digest

    def check(row: Row, job_id: str) -> None:
        job = wait_final(client, job_id, 240)
        if job is None:
            row.stuck += 1
            return
        if job.state != SUCCEEDED:
            row.wrong += 1
            row.notes.append(f"{gateway_pb2.JobState.Name(job.state)}: {job.failure_reason[:80]}")
            if "internal" in job.failure_reason.lower():
                row.internal += 1
            return
        got = {f.name: f.content for f in client.get_scores(job_id).files}
        if got != want:
            row.wrong += 1
            row.notes.append("scores differ")

    def wait_state(job_id: str, state, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(grpc.RpcError):
                if client.get_job(job_id).state >= state:
                    return
            time.sleep(0.05)

    def kill_restart(service: str, state) -> Row:
        row = Row(f"kill {service} mid-job", jobs=1)
        tb = tracebacks(logs)
        job_id = client.evaluate(fresh(), "sLM21")
        wait_state(job_id, state)
        peaks.sample(st.procs)
        st.stop(service, signal.SIGKILL)
        time.sleep(1.0)
        st.start_service(service)
        check(row, job_id)
        row.tracebacks = tracebacks(logs) - tb
        row.rss_mb = peaks.sample(st.procs)
        return row

    rows.append(kill_restart("validation", gateway_pb2.JOB_STATE_VALIDATING))
    for t in ("lexical", "syntactic", "semantic"):
        rows.append(kill_restart(f"scoring-{t}", gateway_pb2.JOB_STATE_SCORING))
    rows.append(kill_restart("results", gateway_pb2.JOB_STATE_SCORING))
    rows.append(kill_restart("gateway", gateway_pb2.JOB_STATE_VALIDATING))

    # the gateway restarted mid-upload: the upload resumes, the job succeeds
    row = Row("restart gateway mid-upload", jobs=1)
    tb = tracebacks(logs)
    d = work / f"upload-{time.monotonic_ns()}"
    shutil.copytree(sub, d)
    (d / "notes.bin").write_bytes(os.urandom(3 << 20))   # a few chunks (incompressible: not a zip bomb)
    archive = work / "upload.zip"
    build_archive(d, archive)
    with contextlib.suppress(Exception):
        client.upload_archive(archive, limit=1 << 20, chunk=256 << 10)
    peaks.sample(st.procs)
    st.stop("gateway", signal.SIGKILL)
    st.start_service("gateway")
    up = client.upload_archive(archive)
    from zrc.core.pipeline import evaluate as _ev
    want_up = _ev(load_dataset(str(st.dataset_dir)), DirTree(d), "sLM21").files()
    job_id = client.evaluate(up.digest, "sLM21")
    job = wait_final(client, job_id, 240)
    if job is None:
        row.stuck += 1
    elif job.state != SUCCEEDED:
        row.wrong += 1
        row.notes.append(f"{gateway_pb2.JobState.Name(job.state)}: {job.failure_reason[:80]}")
    elif {f.name: f.content for f in client.get_scores(job_id).files} != want_up:
        row.wrong += 1
        row.notes.append("scores differ")
    row.tracebacks = tracebacks(logs) - tb
    row.rss_mb = peaks.sample(st.procs)
    rows.append(row)

    # S3 paused
    row = Row(f"pause S3 {pause_s3:.0f} s", jobs=1)
    tb = tracebacks(logs)
    job_id = client.evaluate(fresh(), "sLM21")
    s3 = st.procs["s3"]
    os.killpg(s3.pid, signal.SIGSTOP)
    timer = threading.Timer(pause_s3, lambda: os.killpg(s3.pid, signal.SIGCONT))
    timer.start()
    try:
        check(row, job_id)
    finally:
        timer.join()
        os.killpg(s3.pid, signal.SIGCONT)
    row.tracebacks = tracebacks(logs) - tb
    row.rss_mb = peaks.sample(st.procs)
    rows.append(row)

    # two gateways racing for the same jobs (leases decide who works)
    from zrc.stack import free_port, service_env
    row = Row("two gateways racing", jobs=4)
    tb = tracebacks(logs)
    addr2 = f"127.0.0.1:{free_port()}"
    env2 = {**service_env("gateway", addr2, st.s3, st.addrs), **st.extra_env, "ZRC_GATEWAY_ID": "racer"}
    st._spawn("gateway-2", [sys.executable, "-m", "zrc.gateway"], env2)  # noqa: SLF001 - a second replica
    from zrc.common.runtime import wait_serving
    wait_serving(addr2, timeout=60)
    with Client(addr2, token=st.admin_token) as c2:
        ids = [(client if i % 2 else c2).evaluate(fresh(), "sLM21") for i in range(4)]
        for job_id in ids:
            check(row, job_id)
    row.tracebacks = tracebacks(sorted((st.root / "logs").glob("*.log"))) - tb
    row.rss_mb = peaks.sample(st.procs)
    st.stop("gateway-2")
    rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- modes

def print_table(rows: list[Row], peaks: dict[str, float], rss_limit: float, out=sys.stdout) -> bool:
    head = f"{'fault / input class':34} {'jobs':>5} {'lost':>5} {'stuck':>5} {'wrong':>5} {'tracebk':>7} " \
           f"{'INTERNAL':>8} {'peak RSS MB':>11}  notes"
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in rows:
        print(f"{r.name:34} {r.jobs:5d} {r.lost:5d} {r.stuck:5d} {r.wrong:5d} {r.tracebacks:7d} {r.internal:8d} "
              f"{r.rss_mb:11.0f}  {'; '.join(n for n in r.notes if n)[:100]}", file=out)
    total = Row("TOTAL", *(sum(getattr(r, k) for r in rows) for k in
                           ("jobs", "lost", "stuck", "wrong", "tracebacks", "internal")))
    print("-" * len(head), file=out)
    print(f"{'TOTAL':34} {total.jobs:5d} {total.lost:5d} {total.stuck:5d} {total.wrong:5d} {total.tracebacks:7d} "
          f"{total.internal:8d}", file=out)
    print("peak RSS per service (MB): " + ", ".join(f"{k}={v:.0f}" for k, v in sorted(peaks.items())), file=out)
    over = {k: v for k, v in peaks.items() if v > rss_limit}
    ok = total.clean and not over
    print(f"chaos: {'PASS' if ok else 'FAIL'} (RSS limit {rss_limit:.0f} MB"
          f"{', over: ' + ', '.join(over) if over else ''})", file=out)
    return ok


def _generate(sub: Path, out: Path, variants: int) -> None:
    r = subprocess.run([sys.executable, __file__, "--generate-into", str(out), "--submission", str(sub),
                        "--variants", str(variants)], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"generating the archives failed:\n{r.stderr[-2000:]}")


def run_embedded(work: Path, variants: int, scale: float, timeout: float, rss_limit: float,
                 out=sys.stdout) -> bool:
    """The inputs through the in-process stack (peak RSS of this process = every service at once)."""
    from zrc.core import limits
    from zrc.embedded import start_embedded

    os.environ.update(LIMIT_ENV)
    limits.set_current(limits.Limits.from_env())
    ds, sub = generate_case(work / "case", scale)
    archives = work / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    _generate(sub, archives, variants)
    home = work / "home"
    emb = start_embedded(home)
    try:
        with Client(emb.address) as client:
            client.import_dataset(ds, "sLM21-dataset")
            logs = [home / "logs" / "embedded.log"]
            rows = run_inputs(client, archives, logs, lambda: vm_hwm_mb(os.getpid()), timeout)
    finally:
        emb.close()
    rows += run_cli_cases(sub, work, {"ZRC_HOME": str(home), **LIMIT_ENV})   # the dataset is imported there
    peak = vm_hwm_mb(os.getpid())   # not ru_maxrss: Linux keeps a forking parent's peak across exec
    return print_table(rows, {"embedded (all services)": peak}, rss_limit, out)


def run_stack(work: Path, variants: int, scale: float, timeout: float, rss_limit: float, pause_s3: float,
              faults: bool) -> bool:
    from zrc.stack import Stack

    ds, sub = generate_case(work / "case", scale)
    archives = work / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    _generate(sub, archives, variants)
    st = Stack(work / "stack", extra_env={"ZRC_JOB_LEASE_SECONDS": "3", "ZRC_REAP_SECONDS": "1",
                                          "ZRC_RETRY_BUDGET_SECONDS": "90", "ZRC_QUOTA_PER_DAY": "0", **LIMIT_ENV})
    st.dataset_dir = ds
    peaks = Peaks()
    try:
        st.up()
        with Client(st.addrs["gateway"], token=st.admin_token) as client:
            client.import_dataset(ds, "sLM21-dataset")
            logs = sorted((st.root / "logs").glob("*.log"))
            rows = run_inputs(client, archives, logs, lambda: peaks.sample(st.procs), timeout)
            rows += run_cli_cases(sub, work, {"ZRC_SERVER": st.addrs["gateway"], "ZRC_TOKEN": st.admin_token})
            if faults:
                rows += run_faults(st, client, sub, work, peaks, pause_s3)
        peaks.sample(st.procs)
    finally:
        st.down()
    return print_table(rows, peaks.mb, rss_limit)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("stack", "embedded"), default="stack")
    p.add_argument("--variants", type=int, default=8, help="archives per input class (26 classes)")
    p.add_argument("--scale", type=float, default=0.005, help="size of the generated valid case")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a job may take before it counts as stuck")
    p.add_argument("--rss-limit-mb", type=float, default=300.0)
    p.add_argument("--pause-s3", type=float, default=20.0)
    p.add_argument("--no-faults", action="store_true")
    p.add_argument("--keep", help="work folder to keep (default: a temporary one)")
    p.add_argument("--generate-into", help=argparse.SUPPRESS)
    p.add_argument("--submission", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.generate_into:
        write_archives(Path(a.submission), Path(a.generate_into), a.variants)
        return 0
    with tempfile.TemporaryDirectory(prefix="zrc-chaos-") as tmp:
        work = Path(a.keep) if a.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if a.mode == "embedded":
            ok = run_embedded(work, a.variants, a.scale, a.timeout, a.rss_limit_mb)
        else:
            ok = run_stack(work, a.variants, a.scale, a.timeout, a.rss_limit_mb, a.pause_s3, not a.no_faults)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
