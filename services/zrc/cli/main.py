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
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from zrc import __version__
from zrc.core.benchmarks import BENCHMARKS, SelectionError, get_benchmark
from zrc.core.findings import Finding
from zrc.core.limits import LimitConfigError
from zrc.core.meta import META_FILE, check_meta, load_meta, template_yaml
from zrc.core.params import PARAMS_FILE, default_params, parse_params
from zrc.core.sources import DirTree, SourceError
from zrc.lazy import lazy_module

from . import admin as admin_cli
from . import cache, credentials, home, jobs, output, reference
from .export import leaderboard_csv

# Imported on first use: `zrc --help` and the commands that do not talk to a server must not pay ~1 s for them.
grpc = lazy_module("grpc")
if TYPE_CHECKING:   # the type checker sees the module the lazy proxy stands for
    from zrc import client as _client
else:
    _client = lazy_module("zrc.client")
common_pb2 = lazy_module("zrc.pb.common.v1.common_pb2")
gateway_pb2 = lazy_module("zrc.pb.gateway.v1.gateway_pb2")
_data = lazy_module("zrc.common.data")
_convert = lazy_module("zrc.common.convert")
_pipeline = lazy_module("zrc.core.pipeline")
_channel = lazy_module("zrc.common.channel")
_analysis = lazy_module("zrc.cli.analysis")   # numpy: only compare, report and leaderboard intervals need it
_report = lazy_module("zrc.cli.report")

RAW_HELP = "with ZRC_SERVER: upload the embedding files themselves, not one pooled vector per file"


def _dataset_errors() -> tuple[type[Exception], ...]:
    """DatasetError for an ``except`` clause, without importing numpy: if zrc.core.dataset was never (fully)
    imported, nothing raised it. (Importing it there would also turn a Ctrl-C during that very import into
    "ImportError: cannot load module more than once".)"""
    cls = getattr(sys.modules.get("zrc.core.dataset"), "DatasetError", None)
    return (cls,) if cls else ()


class UsageError(Exception):
    """A mistake in how the command was called or set up: exit 2 with one sentence."""


class RpcFailure(UsageError):
    """A call the server refused or could not answer: its status ``code`` and ``details``, said as one
    sentence (:func:`_rpc_failure`), so commands decide on the code, never on the text."""

    def __init__(self, sentence: str, code, details: str):
        super().__init__(sentence)
        self.code, self.details = code, details


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
    except SelectionError as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def session(scoring: bool = True) -> Iterator[_client.Client]:
    """A client of ZRC_SERVER, or of an embedded in-process stack when it is unset (``scoring=False``: a
    command that scores nothing, for which the embedded stack starts without validation and scorers)."""
    server = os.environ.get("ZRC_SERVER", "").strip()
    token = os.environ.get("ZRC_TOKEN") or (credentials.load(server) if server else None) \
        or os.environ.get("ZRC_ADMIN_TOKEN") or None
    embedded = None
    if not server:
        from zrc.lazy import import_structlog_without_rich
        import_structlog_without_rich()
        from zrc.embedded import start_embedded
        embedded = start_embedded(home.home(), scoring)
        server = embedded.address
    try:
        client = _client.Client(server, token=token, ca_file=os.environ.get("ZRC_CA_FILE") or None,
                        allow_plaintext=os.environ.get("ZRC_ALLOW_PLAINTEXT", "") == "1")
    except (_channel.InsecureTransport, _channel.TLSConfigError) as exc:
        if embedded is not None:
            embedded.close()
        raise UsageError(str(exc)) from None
    if embedded is not None:
        client.local = embedded.local   # benchmarks:run / submission:verify read the folder in place
    try:
        yield client
    except grpc.RpcError as exc:
        raise _rpc_failure(exc, server, embedded is None) from None
    finally:
        client.close()
        if embedded is not None:
            embedded.close()


def _rpc_failure(exc: Any, server: str, remote: bool) -> RpcFailure:   # a grpc.RpcError
    """The one place where a status code becomes what the user reads (every code exits 2)."""
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE and remote and _channel.parse_server(server)[1]:
        sentence = _channel.failure_sentence(server, details)
    elif code == grpc.StatusCode.UNAVAILABLE and remote:
        sentence = (f"cannot reach the zrc server at {server} (ZRC_SERVER): is it running? unset ZRC_SERVER to "
                    "evaluate locally")
    elif code == grpc.StatusCode.UNAUTHENTICATED:
        sentence = f"the server at {server} refused the token ({details}): run `zrc user:login` or set ZRC_TOKEN"
    elif code == grpc.StatusCode.PERMISSION_DENIED:
        sentence = f"permission denied: {details}"
    elif code == grpc.StatusCode.NOT_FOUND and details.startswith("dataset"):
        sentence = f"{details}: run `zrc datasets:import /path/to/the-dataset` (folder or zip)"
    elif code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        sentence = details
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        sentence = f"the server at {server} did not answer in time; try again"
    else:
        sentence = f"{details} ({code.name.lower()})"
    return RpcFailure(sentence, code, details)


def _selection_args(a, spec) -> tuple[list[str], list[str]]:
    try:
        return _pipeline.select(spec, a.sets, a.tasks)
    except SelectionError as exc:
        raise UsageError(str(exc)) from None


def _require_dataset(client: _client.Client, bench: str, name: str | None) -> None:
    """Fail before a long upload if the server lacks the dataset."""
    want = name or get_benchmark(bench).dataset
    have = {d.name: d.benchmark for d in client.list_datasets()}
    if want not in have:
        raise UsageError(f"dataset {want} is not imported: run `zrc datasets:import /path/to/{want}` "
                         f"(folder or zip){'; available: ' + ', '.join(sorted(have)) if have else ''}")
    if have[want] != bench:
        raise UsageError(f"dataset {want} is a {have[want]} dataset, not {bench}")


def _check_quota(client: _client.Client, bench: str):
    """Refuse before uploading when today's quota is spent (the server still decides, atomically, at Evaluate);
    returns WhoAmI's answer (None from servers that do not offer WhoAmI, which are not asked)."""
    try:
        me = client.whoami()
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return None
        raise
    left = me.quota_left.get(bench, -1)
    if left == 0:
        raise UsageError(f"no {bench} evaluations left today for {me.user} (the quota resets at "
                         f"{_convert.stamp_text(me, 'quota_resets_at', _convert.SECONDS_Z)}, UTC); nothing was uploaded")
    return me


def _upload(client: _client.Client, folder: str, quiet: bool) -> str:
    with output.upload_progress(quiet) as on_bytes:
        return client.upload_folder(folder, on_bytes=on_bytes, tmpdir=str(_tmpdir()),
                                    on_size=getattr(on_bytes, "set_total", None)).digest


class _InvalidHere(Exception):
    """Embedding files that break a per-file rule, found while pooling them before an upload."""

    def __init__(self, findings: Sequence[Finding]):
        super().__init__("invalid embedding files")
        self.findings = findings


def _submission(client: _client.Client, folder: str, quiet: bool, bench: str, raw: bool = False,
                local_ok: bool = True) -> tuple[str, str]:
    """(digest, local_ref): the folder in place in embedded mode; else uploaded with its embeddings pooled
    here (one vector per file, the server's own pooling code), or as the raw files with ``--raw``."""
    if client.local is not None and local_ok:
        return client.submission(folder)
    if raw:
        return _upload(client, folder, quiet), ""
    with output.upload_progress(quiet) as on_bytes:
        up, findings = client.upload_pooled(folder, bench, on_bytes=on_bytes, tmpdir=str(_tmpdir()))
    if up is None:
        raise _InvalidHere(findings.items)
    return up.digest, ""


def _invalid_here(a, exc: _InvalidHere, where: str, bench: str) -> int:
    if a.json:
        output.print_json({"ok": False, "findings": _findings_json(exc.findings)})
    else:
        output.findings(exc.findings, quiet=a.quiet)
        output.error(f"{where} is not a valid {bench} submission: nothing was uploaded")
    return 1


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


def check_output_dir(out: Path) -> None:
    """Refuse an output folder that cannot be written *before* anything is uploaded, scored or charged."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"cannot write score files to {out}: {probe} is a file, not a folder "
                         "(give -o a folder; nothing was scored)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write score files to {out}: {probe} is not writable (nothing was scored)")


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


def _watch(client: _client.Client, job_id: str, quiet: bool, total: int | None = None):
    """Follow a job to its end; a dropped connection reconnects and resumes (the job runs on regardless)."""
    told: list[str] = []

    def reconnecting(reason: str) -> None:
        if not told and not quiet:
            output.warn(f"lost the connection to the server ({reason}); job {job_id} goes on there: reconnecting...")
        told.append(reason)

    try:
        with output.job_progress(quiet, total) as on_event:
            job = None
            for msg in client.watch(job_id, on_reconnect=reconnecting):
                if msg.HasField("event") and on_event:
                    on_event(msg.event)
                if msg.HasField("job"):
                    job = msg.job
        return job or client.get_job(job_id)
    except grpc.RpcError as exc:
        if exc.code().name in _client._DROPPED:
            raise UsageError(f"lost the connection to the server and could not reconnect; job {job_id} goes on "
                             f"there: `zrc jobs` shows its state, `zrc jobs:scores {job_id}` fetches its scores") from None
        raise


def cmd_run(a) -> int:
    bench = _bench(a.name)
    _submission_dir(a.submission)
    spec = get_benchmark(bench)
    sets, tasks = _selection_args(a, spec)
    quiet = a.quiet or a.json
    out = Path(a.output) if a.output else Path(a.submission) / "scores"
    check_output_dir(out)
    with session() as client:
        _require_dataset(client, bench, a.dataset)
        _check_quota(client, bench)
        try:
            # --skip-validation scores what it can: the server then needs the files, not refused vectors
            digest, local_ref = _submission(client, a.submission, quiet, bench, a.raw or a.skip_validation)
        except _InvalidHere as exc:
            return _invalid_here(a, exc, a.submission, bench)
        job_id = client.evaluate(digest, bench, dataset=a.dataset or "", sets=sets, tasks=tasks,
                                 skip_validation=a.skip_validation, local_ref=local_ref)
        job = _watch(client, job_id, quiet, total=len(sets) * len(tasks))
        findings = [Finding(**_data.finding_from_pb(f)) for f in job.findings]
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
    files = {f.name: f.content for f in res.files}
    _write_scores(files, out)
    entry = _convert.entry_py(res.entry)
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
        try:
            digest, local_ref = _submission(client, a.location, quiet, bench, a.raw)
        except _InvalidHere as exc:
            return _invalid_here(a, exc, a.location, bench)
        sel = common_pb2.Selection(submission_digest=digest, benchmark=bench, dataset=a.dataset or "",
                                   sets=sets, tasks=tasks, local_ref=local_ref)
        r = client.stub.ValidateSubmission(gateway_pb2.ValidateSubmissionRequest(selection=sel), timeout=3600,
                                           metadata=client.metadata)
    findings = [Finding(**_data.finding_from_pb(f)) for f in r.findings]
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
    if not findings.ok:  # the defaults are not what an evaluation of this folder would use: it would fail
        if a.json:
            output.print_json({"ok": False, "params": None, "findings": _findings_json(findings.items)})
        else:
            output.findings(findings.items)
            output.error(f"{path} is invalid: an evaluation would stop here; fix it, or `zrc submission:params "
                         f"{a.location} --reset` to rewrite the defaults")
        return 1
    if a.json:
        output.print_json({"ok": findings.ok, "params": params.export(), "findings": _findings_json(findings.items)})
    else:
        output.findings(findings.items)
        output.say(f"# {path}{' (reset to defaults)' if a.reset else '' if path.is_file() else ' (absent: defaults)'}")
        output.say(yaml.safe_dump(params.export()).rstrip())
    return 0 if findings.ok else 1


def cmd_datasets(a) -> int:
    with session(scoring=False) as client:
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
        with session(scoring=False) as client:
            r = client.import_dataset(src, name)
    except (SourceError, *_dataset_errors()) as exc:  # type: ignore[misc]  # classes known only at raise time
        return _import_failed(a, str(exc))
    except RpcFailure as exc:
        if exc.code == grpc.StatusCode.INVALID_ARGUMENT:   # the dataset itself is wrong
            return _import_failed(a, exc.details)
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
                            tasks=None, quiet=a.quiet, json=a.json, dataset="sLM21-demo", raw=False)
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
        me = _check_quota(client, bench)
        name = (meta or {}).get("username")
        if (me is not None and os.environ.get("ZRC_SERVER") and not a.baseline and isinstance(name, str)
                and name != me.user):
            return _report_invalid(a, [Finding("error", "meta_username_mismatch", (
                f"username is {name!r} but the token is {me.user!r}'s: entries are published under the "
                f"authenticated user; set username: {me.user}"), META_FILE)], "nothing was uploaded")
        try:
            digest = _submission(client, a.location, quiet, bench, a.raw, local_ok=False)[0]  # archived: re-scorable
        except _InvalidHere as exc:
            return _report_invalid(a, exc.findings, "nothing was uploaded")
        v = client.validate(digest, bench, dataset=a.dataset or "")
        findings = [Finding(**_data.finding_from_pb(f)) for f in v.findings]
        if not v.ok:
            return _report_invalid(a, findings, "nothing was submitted")
        job_id = client.evaluate(digest, bench, dataset=a.dataset or "", publish=True, baseline=a.baseline)
        sets, tasks = _pipeline.select(get_benchmark(bench), None, None)  # submit evaluates everything
        job = _watch(client, job_id, quiet, total=len(sets) * len(tasks))
        findings = [Finding(**_data.finding_from_pb(f)) for f in job.findings]
        if job.state == gateway_pb2.JOB_STATE_INVALID:
            return _report_invalid(a, findings, "nothing was published")
        if job.state != gateway_pb2.JOB_STATE_SUCCEEDED:
            output.error(f"evaluation failed on the server: {job.failure_reason} (job {job_id}); "
                         "it does not count against your quota")
            return 1
        entry = _convert.entry_py(client.get_scores(job_id).entry)
    model_id = job.model_id
    given = str(((meta or {}).get("model_info") or {}).get("model_id") or "")
    if model_id and meta is not None and given != model_id:  # as the reference: the model id is written back after the first submit
        meta["model_info"]["model_id"] = model_id
        (Path(a.location) / META_FILE).write_text(yaml.safe_dump(meta, sort_keys=True))
    if a.json:
        output.print_json({"ok": True, "job_id": job_id, "model_id": model_id, "scores": entry["scores"]})
        return 0
    output.findings(findings, quiet=a.quiet)
    if not a.quiet:
        output.summary(bench, entry)
    if os.environ.get("ZRC_SERVER", "").strip():
        where = f"published to the {bench} leaderboard of {os.environ['ZRC_SERVER'].strip()}"
    else:  # embedded: nothing left this machine
        where = (f"recorded in the local {bench} leaderboard ({home.home()}; `zrc leaderboard {bench}`): nothing "
                 "was sent anywhere; set ZRC_SERVER to submit to an evaluation server")
    output.say(f"{where} (job {job_id}, model_id {model_id}); model_id written to {META_FILE} to link your next "
               "submissions")
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
    with session(scoring=False) as client:
        entries = client.leaderboard(bench)
    entries.sort(key=lambda e: (e.get("zrc") or {}).get("published_at") or e.get("submission_date") or "")
    if a.json:
        output.print_json({"last_modified": max((e.get("submission_date") or "" for e in entries), default=None),
                           "data": entries})
    elif a.csv:
        text = leaderboard_csv(bench, entries)
        if a.intervals:
            text = _analysis.csv_with_intervals(bench, entries, text)
        sys.stdout.write(text)
    else:
        output.leaderboard(bench, entries)
        for line in _analysis.indistinct_neighbours(bench, entries):
            output.note(f"not significantly different (unpaired, 5%; `zrc compare` is paired): {line}")
    return 0


def cmd_login(a) -> int:
    server = os.environ.get("ZRC_SERVER", "").strip()
    if not server:
        raise UsageError("no server configured: set ZRC_SERVER to the gateway address (the local mode needs no login)")
    token = a.token or (sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("token: "))
    if not token:
        raise UsageError("no token given")
    os.environ["ZRC_TOKEN"] = token
    with session(scoring=False) as client:
        me = client.whoami()
    path = credentials.save(server, token)
    if a.json:
        output.print_json({"ok": True, "server": server, "user": me.user, "admin": me.admin})
    else:
        output.say(f"logged in to {server} as {me.user}{' (admin)' if me.admin else ''}; token saved in {path} (0600)")
    return 0


def cmd_whoami(a) -> int:
    with session(scoring=False) as client:
        me = client.whoami()
    resets = _convert.stamp_text(me, "quota_resets_at", _convert.SECONDS_Z)
    info = {"user": me.user, "admin": me.admin, "quota_left": dict(me.quota_left), "quota_resets_at": resets}
    if a.json:
        output.print_json(info)
    else:
        left = ", ".join(f"{b}: {'unlimited' if n < 0 else n}" for b, n in info["quota_left"].items())
        output.say(f"{me.user}{' (admin)' if me.admin else ''}; evaluations left today: {left} "
                   f"(resets {resets})")
    return 0


def cmd_user_create(a) -> int:
    with session(scoring=False) as client:
        client.create_user(a.user, admin=a.admin)
    if a.json:
        output.print_json({"ok": True, "user": a.user, "admin": a.admin})
        return 0
    output.note(f"user {a.user} ready{' (admin)' if a.admin else ''}")
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
        sp = sub.add_parser(name, help=help_.replace("%", "%%"), description=help_)   # help is %-formatted
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
    sp.add_argument("--raw", action="store_true", help=RAW_HELP)
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
    sp.add_argument("--raw", action="store_true", help=RAW_HELP)
    sp = add("submission:params", cmd_params, "show (or reset) a submission's params.yaml")
    sp.add_argument("location")
    sp.add_argument("-r", "--reset", action="store_true", help="rewrite params.yaml with the defaults")
    sp.add_argument("--benchmark", help="default: benchmark_name in meta.yaml")
    add("datasets", cmd_datasets, "list imported datasets")
    sp = add("datasets:import", cmd_import, "import an official dataset folder or zip")
    sp.add_argument("path")
    sp.add_argument("-q", "--quiet", action="store_true")
    sp.add_argument("--name", help="dataset name (default: the folder/zip basename)")
    sp.add_argument("-u", "--skip-verification", action="store_true",
                    help="accepted for the reference's scripts: there is no online index to check against here; "
                         "the contents are always validated")
    sp = add("submit", cmd_submit, "validate, upload, evaluate on the server and publish to the leaderboard")
    sp.add_argument("location")
    sp.add_argument("--benchmark", help="default: benchmark_name in meta.yaml")
    sp.add_argument("--dataset")
    sp.add_argument("--baseline", action="store_true", help="admin: flag the entry as a baseline")
    sp.add_argument("--raw", action="store_true", help=RAW_HELP)
    sp.add_argument("-m", "--multipart", action="store_true",
                    help="accepted for the reference's scripts: uploads always go in resumable parts")
    sp.add_argument("-r", "--resume-dir", action="store_true",
                    help="accepted for the reference's scripts: an interrupted upload always resumes")
    sp.add_argument("-q", "--quiet", action="store_true")
    sp = add("leaderboard", cmd_leaderboard, "show a benchmark's leaderboard")
    sp.add_argument("name")
    sp.add_argument("--csv", action="store_true", help="the reference sLM21-csv columns")
    sp.add_argument("--intervals", action="store_true", help="with --csv: append the 95%% interval columns")
    sp = add("user:login", cmd_login, "store a token for ZRC_SERVER (file mode 0600)")
    sp.add_argument("--token", help="default: read from stdin / prompt")
    add("user:whoami", cmd_whoami, "who the token belongs to, and today's quota")
    sp = add("admin:user-create", cmd_user_create, "admin: create a user")
    sp.add_argument("user")
    sp.add_argument("--admin", action="store_true")
    admin_cli.register(add, session, UsageError)
    sp = add("admin:rescore", cmd_rescore, "admin: re-score entries made by another scorer version")
    sp.add_argument("name")
    sp = add("compare", lambda a: _analysis.cmd_compare(a), "B - A for every shared score: paired 95% interval and p-value")
    sp.add_argument("a", help="score folder written by benchmarks:run (or its submission folder), a job id or "
                              "a leaderboard entry id")
    sp.add_argument("b", help="the same for B")
    sp = add("report", lambda a: _report.cmd_report(a), "one self-contained HTML page (or Markdown) of the scores and their intervals")
    sp.add_argument("scores", help="score folder written by benchmarks:run (or its submission folder), or a job id")
    sp.add_argument("-o", "--output", help="output file (default SCORES/report.html; .md for Markdown)")
    sp.add_argument("--compare", metavar="B", help="also compare with B (folder or job id): paired intervals")
    sp.add_argument("--markdown", action="store_true", help="Markdown for pasting into a README")
    sp = add("demo", cmd_demo, "generate a small dataset + submission and evaluate it")
    sp.add_argument("--dir", help="where to generate (default ZRC_HOME/demo)")
    sp.add_argument("--scale", type=float, default=0.01)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("-q", "--quiet", action="store_true")
    cache.add_parser(add)
    jobs.add_parsers(add)
    reference.add_parsers(add)
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
        if getattr(a, "json", False):  # scripts read stdout: they get the reason there too
            output.print_json({"ok": False, "error": str(exc)})
        output.error(str(exc))
        return 2
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    except (SourceError, *_dataset_errors()) as exc:  # type: ignore[misc]  # classes known only at raise time
        output.error(str(exc))
        return 2
    except grpc.RpcError as exc:   # outside a session's own translation: still one sentence, never a dump
        output.error(str(_rpc_failure(exc, os.environ.get("ZRC_SERVER", "") or "the embedded stack", True)))
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
