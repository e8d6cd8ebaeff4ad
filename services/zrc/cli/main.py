"""``zrc``: the command names of the reference toolkit, working offline and fast.

Exit codes: 0 success, 1 invalid submission (findings printed), 2 usage or setup
error (unknown benchmark, missing folder, dataset not imported...). A user
mistake never produces a traceback.

Every command that touches datasets or scores is a gRPC client of the gateway:
``ZRC_SERVER`` names a server; unset, the whole stack starts in-process
(:mod:`zrc.embedded`) over local storage under ``ZRC_HOME``. The CLI never
scores by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import yaml

from zrc import __version__
from zrc.client import Client
from zrc.common.data import finding_from_pb
from zrc.common.v1 import common_pb2
from zrc.core.benchmarks import BENCHMARKS, get_benchmark
from zrc.core.dataset import DatasetError
from zrc.core.findings import Finding
from zrc.core.limits import LimitConfigError
from zrc.core.meta import META_FILE, check_meta, load_meta, template_yaml
from zrc.core.params import PARAMS_FILE, default_params, parse_params
from zrc.core.pipeline import SelectionError, select
from zrc.core.sources import DirTree, SourceError
from zrc.gateway.v1 import gateway_pb2

from . import credentials, home, output
from .export import leaderboard_csv


class UsageError(Exception):
    """A mistake in how the command was called or set up: exit 2 with one sentence."""


# ---------------------------------------------------------------------------------------------- helpers

def _submission_dir(path: str) -> DirTree:
    p = Path(path)
    if not p.is_dir():
        raise UsageError(f"submission folder {path} does not exist (create one with `zrc submission:init`)")
    return DirTree(p)


def _benchmark_of(tree: DirTree, given: str | None) -> str:
    if given:
        return _bench(given)
    meta, _ = load_meta(tree.read(META_FILE) if tree.exists(META_FILE) else None)
    name = (meta or {}).get("benchmark_name")
    if not name:
        raise UsageError(f"{tree.label}/{META_FILE} does not name the benchmark (benchmark_name); "
                         "pass --benchmark sLM21 or --benchmark prosAudit")
    return _bench(str(name))


def _bench(name: str) -> str:
    try:
        return get_benchmark(name).name
    except KeyError:
        raise UsageError(f"unknown benchmark {name!r}; available: {', '.join(BENCHMARKS)}") from None


@contextlib.contextmanager
def session() -> Iterator[Client]:
    """A client of ZRC_SERVER, or of an embedded in-process stack when it is unset."""
    server = os.environ.get("ZRC_SERVER", "").strip()
    token = os.environ.get("ZRC_TOKEN") or (credentials.load(server) if server else None) \
        or os.environ.get("ZRC_ADMIN_TOKEN") or None
    embedded = None
    if not server:
        from zrc.embedded import start_embedded
        embedded = start_embedded(home.home())
        server = embedded.address
    client = Client(server, token=token)
    try:
        yield client
    except grpc.RpcError as exc:
        raise UsageError(_rpc_sentence(exc, server, embedded is None)) from None
    finally:
        client.close()
        if embedded is not None:
            embedded.close()


def _rpc_sentence(exc: grpc.RpcError, server: str, remote: bool) -> str:
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE and remote:
        return f"cannot reach the zrc server at {server} (ZRC_SERVER): is it running? unset ZRC_SERVER to evaluate locally"
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return f"the server at {server} refused the token ({details}): run `zrc user:login` or set ZRC_TOKEN"
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"permission denied: {details}"
    if code == grpc.StatusCode.NOT_FOUND and details.startswith("dataset"):
        return f"{details}: run `zrc datasets:import /path/to/the-dataset` (folder or zip)"
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return details
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"the server at {server} did not answer in time; try again"
    return f"{details} ({code.name.lower()})"


def _selection_args(a, spec) -> tuple[list[str], list[str]]:
    try:
        return select(spec, a.sets, a.tasks)
    except SelectionError as exc:
        raise UsageError(str(exc)) from None


def _require_dataset(client: Client, bench: str, name: str | None) -> None:
    """Fail before a long upload if the server lacks the dataset."""
    want = name or get_benchmark(bench).dataset
    have = {d.name: d.benchmark for d in client.list_datasets()}
    if want not in have:
        raise UsageError(f"dataset {want} is not imported: run `zrc datasets:import /path/to/{want}` "
                         f"(folder or zip){'; available: ' + ', '.join(sorted(have)) if have else ''}")
    if have[want] != bench:
        raise UsageError(f"dataset {want} is a {have[want]} dataset, not {bench}")


def _upload(client: Client, folder: str, quiet: bool) -> str:
    with output.upload_progress(quiet) as on_bytes:
        return client.upload_folder(folder, on_bytes=on_bytes, tmpdir=str(_tmpdir())).digest


def _tmpdir() -> Path:
    d = home.home() / "tmp"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _write_scores(files: dict[str, bytes], out: Path) -> None:
    """Write score files atomically (temp file + rename each)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out / name)


def _findings_json(findings: Sequence[Finding]) -> list[dict]:
    return [f.to_dict() for f in findings]


# --------------------------------------------------------------------------------------------- commands

def cmd_benchmarks(a) -> int:
    rows = [{"name": b.name, "tasks": list(b.task_names), "dataset": b.dataset, "url": b.url}
            for b in BENCHMARKS.values()]
    if a.json:
        output.print_json(rows)
    else:
        output.table("Benchmarks", ["name", "tasks", "dataset", "documentation"],
                     [[r["name"], ", ".join(r["tasks"]), r["dataset"], r["url"]] for r in rows])
    return 0


def cmd_benchmarks_info(a) -> int:
    b = get_benchmark(_bench(a.name))
    if a.json:
        output.print_json({"name": b.name, "description": b.description, "tasks": list(b.task_names),
                           "sets": ["dev", "test"], "dataset": b.dataset, "url": b.url})
    else:
        output.say(f"{b.name}: {b.description}\ntasks: {', '.join(b.task_names)}; sets: dev, test\n"
                   f"dataset: {b.dataset}\ndocumentation: {b.url}")
    return 0


def _watch(client: Client, job_id: str, quiet: bool):
    with output.job_progress(quiet) as on_event:
        job = None
        for msg in client.watch(job_id):
            if msg.HasField("event") and on_event:
                on_event(msg.event)
            if msg.HasField("job"):
                job = msg.job
    return job or client.get_job(job_id)


def cmd_run(a) -> int:
    bench = _bench(a.name)
    _submission_dir(a.submission)
    spec = get_benchmark(bench)
    sets, tasks = _selection_args(a, spec)
    quiet = a.quiet or a.json
    with session() as client:
        _require_dataset(client, bench, a.dataset)
        digest = _upload(client, a.submission, quiet)
        job_id = client.evaluate(digest, bench, dataset=a.dataset or "", sets=sets, tasks=tasks,
                                 skip_validation=a.skip_validation)
        job = _watch(client, job_id, quiet)
        findings = [Finding(**finding_from_pb(f)) for f in job.findings]
        if job.state == gateway_pb2.JOB_STATE_INVALID:
            if a.json:
                output.print_json({"ok": False, "job_id": job_id, "findings": _findings_json(findings)})
            else:
                output.findings(findings, quiet=a.quiet)
                output.error(f"{a.submission} is not a valid {bench} submission: nothing was scored")
            return 1
        if job.state != gateway_pb2.JOB_STATE_SUCCEEDED:
            output.error(f"evaluation failed: {job.failure_reason or 'unknown reason'} (job {job_id})")
            return 1
        res = client.get_scores(job_id)
    out = Path(a.output) if a.output else Path(a.submission) / "scores"
    files = {f.name: f.content for f in res.files}
    _write_scores(files, out)
    entry = json.loads(res.leaderboard_json)
    if a.json:
        output.print_json({"ok": True, "job_id": job_id, "output": str(out), "files": sorted(files),
                           "findings": _findings_json(findings), "scores": entry["scores"]})
        return 0
    output.findings(findings, quiet=a.quiet)
    if not a.quiet:
        output.summary(bench, entry)
        output.say(f"{len(files)} score files written to {out}")
    return 0


def cmd_init(a) -> int:
    bench = _bench(a.name)
    loc = Path(a.location)
    if loc.exists():
        raise UsageError(f"{loc} already exists; choose a new folder (nothing was changed)")
    loc.mkdir(parents=True)
    if bench == "sLM21":
        for d in ("lexical", "syntactic", "scores"):
            (loc / d).mkdir()
        for s in ("dev", "test"):  # the reference forgets semantic/test (formats.md §8.5)
            for t in ("synthetic", "librispeech"):
                (loc / "semantic" / s / t).mkdir(parents=True)
    else:
        (loc / "scores").mkdir()
        (loc / "english_dev.txt").touch()
        (loc / "english_test.txt").touch()
    (loc / PARAMS_FILE).write_text(default_params(bench).to_yaml())
    (loc / META_FILE).write_text(template_yaml(bench))
    if a.json:
        output.print_json({"ok": True, "benchmark": bench, "location": str(loc)})
    else:
        output.say(f"created a {bench} submission template in {loc}: fill meta.yaml and add your files")
    return 0


def cmd_verify(a) -> int:
    tree = _submission_dir(a.location)
    bench = _benchmark_of(tree, a.benchmark)
    sets, tasks = _selection_args(a, get_benchmark(bench))
    quiet = a.quiet or a.json
    with session() as client:
        _require_dataset(client, bench, a.dataset)
        digest = _upload(client, a.location, quiet)
        sel = common_pb2.Selection(submission_digest=digest, benchmark=bench, dataset=a.dataset or "",
                                   sets=sets, tasks=tasks)
        r = client.stub.ValidateSubmission(gateway_pb2.ValidateSubmissionRequest(selection=sel), timeout=3600,
                                           metadata=client.metadata)
    findings = [Finding(**finding_from_pb(f)) for f in r.findings]
    if a.json:
        output.print_json({"ok": r.ok, "benchmark": bench, "findings": _findings_json(findings)})
    else:
        output.findings(findings, quiet=a.quiet)
        if r.ok:
            output.say(f"{a.location} is a valid {bench} submission ({', '.join(tasks)}; {', '.join(sets)})")
        else:
            output.error(f"{a.location} is not a valid {bench} submission")
    return 0 if r.ok else 1


def cmd_params(a) -> int:
    tree = _submission_dir(a.location)
    bench = _benchmark_of(tree, a.benchmark)
    path = Path(a.location) / PARAMS_FILE
    if a.reset:
        path.write_text(default_params(bench).to_yaml())
    params, findings = parse_params(tree.read(PARAMS_FILE) if tree.exists(PARAMS_FILE) else None, bench)
    if a.json:
        output.print_json({"ok": findings.ok, "params": params.export(), "findings": _findings_json(findings.items)})
    else:
        output.findings(findings.items)
        output.say(f"# {path}{' (reset to defaults)' if a.reset else '' if path.is_file() else ' (absent: defaults)'}")
        output.say(yaml.safe_dump(params.export()).rstrip())
    return 0 if findings.ok else 1


def cmd_datasets(a) -> int:
    with session() as client:
        rows = list(client.list_datasets())
    if a.json:
        output.print_json([{"name": r.name, "benchmark": r.benchmark, "parts": list(r.parts), "digest": r.digest,
                            "size": r.size} for r in rows])
    elif not rows:
        output.say("no dataset imported; use `zrc datasets:import PATH`")
    else:
        output.table("Datasets", ["name", "benchmark", "gold parts", "size"],
                     [[r.name, r.benchmark, ", ".join(r.parts), output.human_bytes(r.size)] for r in rows])
    return 0


def cmd_import(a) -> int:
    src = Path(a.path)
    if not src.exists():
        raise UsageError(f"{a.path} does not exist: give the official dataset folder or its zip")
    name = a.name or src.name.removesuffix(".zip")
    try:
        with session() as client:
            r = client.import_dataset(src, name)
    except (DatasetError, SourceError) as exc:
        return _import_failed(a, str(exc))
    except UsageError as exc:
        if "invalid_argument" in str(exc):
            return _import_failed(a, str(exc).removesuffix(" (invalid_argument)"))
        raise
    info = r.dataset
    if a.json:
        output.print_json({"ok": True, "name": info.name, "benchmark": info.benchmark, "parts": list(info.parts),
                           "digest": info.digest, "size": info.size, "notes": list(r.notes)})
    else:
        for n in r.notes:
            output.warn(n)
        (output.note if getattr(a, "quiet", False) else output.say)(
            f"imported {info.benchmark} dataset {info.name} ({', '.join(info.parts)})")
    return 0


def _import_failed(a, message: str) -> int:
    if a.json:
        output.print_json({"ok": False, "error": message})
    else:
        output.error(f"cannot import {a.path}: {message}")
    return 1


DEMO_MARKER = ".zrc-demo"


def _clear_demo_dir(work: Path) -> None:
    """Make ``work`` ready for a demo without ever deleting what the user put there.

    Only a folder that a previous demo created (it holds :data:`DEMO_MARKER`) is
    emptied; any other non-empty folder is refused, and nothing in it is touched.
    """
    if work.exists() and not work.is_dir():
        raise UsageError(f"{work} exists and is not a folder; choose a new or empty folder (nothing was changed)")
    if work.is_dir() and any(work.iterdir()):
        if not (work / DEMO_MARKER).is_file():
            raise UsageError(f"{work} is not empty and was not made by `zrc demo`; choose a new or empty "
                             "folder (nothing was changed)")
        for child in work.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    work.mkdir(parents=True, exist_ok=True)
    (work / DEMO_MARKER).write_text("made by `zrc demo`; the next `zrc demo` in this folder replaces it\n")


def cmd_demo(a) -> int:
    from zrc.core.generate import GenOptions, generate

    work = Path(a.dir) if a.dir else home.home() / "demo"
    _clear_demo_dir(work)
    output.note(f"generating a small sLM21 dataset and submission in {work} ...")
    root, sub = generate(work, "sLM21", GenOptions(scale=a.scale, seed=a.seed))
    output.note(f"$ zrc datasets:import {root} --name sLM21-demo")
    rc = cmd_import(argparse.Namespace(path=str(root), name="sLM21-demo", json=False, quiet=True))
    if rc:
        return rc
    output.note(f"$ zrc benchmarks:run sLM21 {sub} --dataset sLM21-demo")
    ns = argparse.Namespace(name="sLM21", submission=str(sub), output=None, skip_validation=False, sets=None,
                            tasks=None, quiet=a.quiet, json=a.json, dataset="sLM21-demo")
    return cmd_run(ns)


def cmd_submit(a) -> int:
    """Validate locally, upload (resumable), validate on the server, evaluate everything, publish."""
    tree = _submission_dir(a.location)
    bench = _benchmark_of(tree, a.benchmark)
    quiet = a.quiet or a.json
    meta_text = tree.read(META_FILE) if tree.exists(META_FILE) else None
    meta, problems = load_meta(meta_text)
    problems.extend(check_meta(meta, benchmark=bench, strict=True))
    params_text = tree.read(PARAMS_FILE) if tree.exists(PARAMS_FILE) else None
    problems.extend(parse_params(params_text, bench)[1])
    if not problems.ok:
        return _report_invalid(a, problems.items, "meta.yaml and params.yaml must be complete to publish")
    with session() as client:
        _require_dataset(client, bench, a.dataset)
        digest = _upload(client, a.location, quiet)
        v = client.validate(digest, bench, dataset=a.dataset or "")
        findings = [Finding(**finding_from_pb(f)) for f in v.findings]
        if not v.ok:
            return _report_invalid(a, findings, "nothing was submitted")
        job_id = client.evaluate(digest, bench, dataset=a.dataset or "", publish=True, baseline=a.baseline)
        job = _watch(client, job_id, quiet)
        findings = [Finding(**finding_from_pb(f)) for f in job.findings]
        if job.state == gateway_pb2.JOB_STATE_INVALID:
            return _report_invalid(a, findings, "nothing was published")
        if job.state != gateway_pb2.JOB_STATE_SUCCEEDED:
            output.error(f"evaluation failed on the server: {job.failure_reason} (job {job_id}); "
                         "it does not count against your quota")
            return 1
        entry = json.loads(client.get_scores(job_id).leaderboard_json)
    model_id = job.model_id
    given = str(((meta or {}).get("model_info") or {}).get("model_id") or "")
    if model_id and given != model_id:  # as the reference: the model id is written back after the first submit
        meta["model_info"]["model_id"] = model_id
        (Path(a.location) / META_FILE).write_text(yaml.safe_dump(meta, sort_keys=True))
    if a.json:
        output.print_json({"ok": True, "job_id": job_id, "model_id": model_id, "scores": entry["scores"]})
        return 0
    output.findings(findings, quiet=a.quiet)
    if not a.quiet:
        output.summary(bench, entry)
    output.say(f"published to the {bench} leaderboard (entry {job_id}, model_id {model_id}); "
               f"model_id written to {META_FILE} to link your next submissions")
    return 0


def _report_invalid(a, findings: Sequence[Finding], why: str) -> int:
    if a.json:
        output.print_json({"ok": False, "findings": _findings_json(findings)})
    else:
        output.findings(findings, quiet=a.quiet)
        output.error(f"{a.location} cannot be submitted: {why}")
    return 1


def cmd_leaderboard(a) -> int:
    bench = _bench(a.name)
    with session() as client:
        entries = client.leaderboard(bench)
    entries.sort(key=lambda e: (e.get("zrc") or {}).get("published_at") or e.get("submission_date") or "")
    if a.json:
        output.print_json({"last_modified": max((e.get("submission_date") or "" for e in entries), default=None),
                           "data": entries})
    elif a.csv:
        sys.stdout.write(leaderboard_csv(bench, entries))
    else:
        output.leaderboard(bench, entries)
    return 0


def cmd_login(a) -> int:
    server = os.environ.get("ZRC_SERVER", "").strip()
    if not server:
        raise UsageError("no server configured: set ZRC_SERVER to the gateway address (the local mode needs no login)")
    token = a.token or (sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("token: "))
    if not token:
        raise UsageError("no token given")
    os.environ["ZRC_TOKEN"] = token
    with session() as client:
        me = client.whoami()
    path = credentials.save(server, token)
    if a.json:
        output.print_json({"ok": True, "server": server, "user": me.user, "admin": me.admin})
    else:
        output.say(f"logged in to {server} as {me.user}{' (admin)' if me.admin else ''}; token saved in {path} (0600)")
    return 0


def cmd_whoami(a) -> int:
    with session() as client:
        me = client.whoami()
    info = {"user": me.user, "admin": me.admin, "quota_left": dict(me.quota_left), "quota_resets_at": me.quota_resets_at}
    if a.json:
        output.print_json(info)
    else:
        left = ", ".join(f"{b}: {'unlimited' if n < 0 else n}" for b, n in info["quota_left"].items())
        output.say(f"{me.user}{' (admin)' if me.admin else ''}; evaluations left today: {left} "
                   f"(resets {me.quota_resets_at})")
    return 0


def cmd_user_create(a) -> int:
    with session() as client:
        client.create_user(a.user, admin=a.admin)
    output.note(f"user {a.user} ready{' (admin)' if a.admin else ''}")
    return 0


def cmd_token_create(a) -> int:
    with session() as client:
        token = client.create_token(a.user)
    sys.stdout.write(token + "\n")   # stdout carries the token alone, for scripts
    output.note(f"token for {a.user}: shown once, stored hashed on the server")
    return 0


def cmd_token_revoke(a) -> int:
    with session() as client:
        client.revoke_token(a.token)
    output.note("token revoked")
    return 0


def cmd_rescore(a) -> int:
    bench = _bench(a.name)
    with session() as client:
        ids = client.rescore(bench)
    if a.json:
        output.print_json({"jobs": ids})
    else:
        output.say(f"{len(ids)} {bench} entr{'y' if len(ids) == 1 else 'ies'} re-scored by the current scorers: "
                   + (", ".join(ids) if ids else "all are up to date"))
    return 0


# ----------------------------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zrc", description="ZeroSpeech sLM21 / ProsAudit evaluation (zrc as a service)")
    p.add_argument("--version", action="version", version=f"zrc-service {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, fn, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(fn=fn)
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        return sp

    add("benchmarks", cmd_benchmarks, "list the benchmarks")
    sp = add("benchmarks:info", cmd_benchmarks_info, "describe one benchmark")
    sp.add_argument("name")
    sp = add("benchmarks:run", cmd_run, "validate and score a submission folder")
    sp.add_argument("name", help="sLM21 or prosAudit")
    sp.add_argument("submission", help="the submission folder")
    sp.add_argument("-o", "--output", help="where to write score files (default SUBMISSION/scores)")
    sp.add_argument("--skip-validation", action="store_true", help="score even if validation finds errors")
    sp.add_argument("-s", "--sets", nargs="+", metavar="SET", help="dev and/or test (default both)")
    sp.add_argument("-t", "--tasks", nargs="+", metavar="TASK", help="tasks to run (default all)")
    sp.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    sp.add_argument("--dataset", help="imported dataset name (default: the benchmark's)")
    sp = add("submission:init", cmd_init, "create a submission template folder")
    sp.add_argument("name")
    sp.add_argument("location")
    sp = add("submission:verify", cmd_verify, "validate a submission without scoring it")
    sp.add_argument("location")
    sp.add_argument("--benchmark", help="default: benchmark_name in meta.yaml")
    sp.add_argument("-s", "--sets", nargs="+", metavar="SET")
    sp.add_argument("-t", "--tasks", nargs="+", metavar="TASK")
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("--dataset")
    sp = add("submission:params", cmd_params, "show (or reset) a submission's params.yaml")
    sp.add_argument("location")
    sp.add_argument("-r", "--reset", action="store_true", help="rewrite params.yaml with the defaults")
    sp.add_argument("--benchmark", help="default: benchmark_name in meta.yaml")
    add("datasets", cmd_datasets, "list imported datasets")
    sp = add("datasets:import", cmd_import, "import an official dataset folder or zip")
    sp.add_argument("path")
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("--name", help="dataset name (default: the folder/zip basename)")
    sp = add("submit", cmd_submit, "validate, upload, evaluate on the server and publish to the leaderboard")
    sp.add_argument("location")
    sp.add_argument("--benchmark", help="default: benchmark_name in meta.yaml")
    sp.add_argument("--dataset")
    sp.add_argument("--baseline", action="store_true", help="admin: flag the entry as a baseline")
    sp.add_argument("-q", "--quiet", action="store_true")
    sp = add("leaderboard", cmd_leaderboard, "show a benchmark's leaderboard")
    sp.add_argument("name")
    sp.add_argument("--csv", action="store_true", help="the reference sLM21-csv columns")
    sp = add("user:login", cmd_login, "store a token for ZRC_SERVER (file mode 0600)")
    sp.add_argument("--token", help="default: read from stdin / prompt")
    add("user:whoami", cmd_whoami, "who the token belongs to, and today's quota")
    sp = add("admin:user-create", cmd_user_create, "admin: create a user")
    sp.add_argument("user")
    sp.add_argument("--admin", action="store_true")
    sp = add("admin:token-create", cmd_token_create, "admin: issue a token for USER (created if needed)")
    sp.add_argument("user")
    sp = add("admin:token-revoke", cmd_token_revoke, "admin: revoke a token")
    sp.add_argument("token")
    sp = add("admin:rescore", cmd_rescore, "admin: re-score entries made by another scorer version")
    sp.add_argument("name")
    sp = add("demo", cmd_demo, "generate a small dataset + submission and evaluate it")
    sp.add_argument("--dir", help="where to generate (default ZRC_HOME/demo)")
    sp.add_argument("--scale", type=float, default=0.01)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("-q", "--quiet", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    if not getattr(a, "fn", None):
        parser.print_help()
        return 2
    try:
        return a.fn(a)
    except UsageError as exc:
        output.error(str(exc))
        return 2
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    except (SourceError, DatasetError) as exc:
        output.error(str(exc))
        return 2
    except grpc.RpcError as exc:   # outside a session's own translation: still one sentence, never a dump
        output.error(_rpc_sentence(exc, os.environ.get("ZRC_SERVER", "") or "the embedded stack", True))
        return 2
    except LimitConfigError as exc:
        output.error(f"configuration error: {exc}")
        return 2
    except OSError as exc:
        output.error(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        return 2


def run() -> None:  # pragma: no cover - console entry
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
