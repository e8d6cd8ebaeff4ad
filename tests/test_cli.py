"""End-to-end tests of the zrc CLI: every command, its exit codes and error paths."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zrc.cli.main import main
from zrc.core.dataset import load_dataset
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree


@pytest.fixture()
def zhome(tmp_path, monkeypatch):
    h = tmp_path / "zrc-home"
    monkeypatch.setenv("ZRC_HOME", str(h))
    return h


@pytest.fixture()
def imported(zhome, slm21_case):
    dataset_dir, sub = slm21_case
    assert main(["datasets:import", str(dataset_dir)]) == 0
    return dataset_dir, sub


def _json(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def test_benchmarks_and_info(capsys):
    assert main(["benchmarks", "--json"]) == 0
    names = [b["name"] for b in _json(capsys)]
    assert names == ["sLM21", "prosAudit"]
    assert main(["benchmarks:info", "sLM21", "--json"]) == 0
    assert _json(capsys)["tasks"] == ["lexical", "syntactic", "semantic"]
    assert main(["benchmarks:info", "nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


def test_import_and_list(imported, capsys, zhome):
    assert main(["datasets", "--json"]) == 0
    (ds,) = _json(capsys)
    assert ds["name"] == "sLM21-dataset" and ds["benchmark"] == "sLM21"
    # only gold files are stored
    stored = [p.name for p in (zhome / "store").rglob("*") if p.is_file()]
    assert "gold.csv" in stored and not [n for n in stored if n.endswith(".wav")]


def test_import_zip_with_name(zhome, tmp_path, prosaudit_case, capsys):
    dataset_dir, _ = prosaudit_case
    archive = shutil.make_archive(str(tmp_path / "prosaudit-dataset"), "zip", dataset_dir.parent, dataset_dir.name)
    assert main(["datasets:import", archive, "--name", "pa", "--json"]) == 0
    assert _json(capsys)["name"] == "pa"


def test_import_errors(zhome, tmp_path, capsys):
    assert main(["datasets:import", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "notads").mkdir()
    (tmp_path / "notads" / "readme.txt").write_text("hi")
    assert main(["datasets:import", str(tmp_path / "notads")]) == 1
    assert "not an sLM21 or ProsAudit dataset" in capsys.readouterr().err
    bad = tmp_path / "bad" / "lexical" / "dev"
    bad.mkdir(parents=True)
    (bad / "gold.csv").write_text("filename,id\nx,1\n")
    assert main(["datasets:import", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert "lexical/dev/gold.csv:1" in err and "missing column" in err


def test_run_writes_the_cores_files(imported, tmp_path, capsys):
    dataset_dir, sub = imported
    out = tmp_path / "scores"
    assert main(["benchmarks:run", "sLM21", str(sub), "-o", str(out), "-q"]) == 0
    core = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21").files()
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    extras = {"score_confidence.csv", "provenance.json"}  # ours, next to the reference's files
    assert set(written) == set(core) | extras
    assert {k: v for k, v in written.items() if k not in extras} == core


def test_run_selection_and_json(imported, tmp_path, capsys):
    _, sub = imported
    out = tmp_path / "o"
    assert main(["benchmarks:run", "sLM21", str(sub), "-o", str(out), "-s", "dev", "-t", "syntactic", "--json"]) == 0
    res = _json(capsys)
    assert res["ok"] and res["files"] == ["provenance.json", "score_confidence.csv",
                                          "score_syntactic_dev_by_pair.csv", "score_syntactic_dev_by_type.csv"]
    assert res["scores"]["syntactic"]["test"] is None


@pytest.mark.parametrize("bad", ["model_info: some text\n", "publication: [a, b]\n", "model_info: 3\npublication: x\n"])
def test_run_with_a_malformed_meta_yaml_scores_and_warns(imported, tmp_path, capsys, bad):
    """A meta.yaml whose sections are not mappings is a warning for an unpublished run (the reference
    scores it too), never an internal error."""
    _, sub = imported
    mine = tmp_path / "sub"
    shutil.copytree(sub, mine)
    (mine / "meta.yaml").write_text(bad)
    assert main(["benchmarks:run", "sLM21", str(mine), "-o", str(tmp_path / "o"), "-t", "lexical", "--json"]) == 0
    res = _json(capsys)
    assert res["ok"] and "score_lexical_dev_by_pair.csv" in res["files"]
    assert "internal error" not in json.dumps(res)
    assert any("must be a mapping of keys" in f["message"] for f in res["findings"] if f["severity"] == "warning")


def test_run_default_output_is_submission_scores(imported, tmp_path):
    _, sub = imported
    mine = tmp_path / "sub"
    shutil.copytree(sub, mine)
    assert main(["benchmarks:run", "sLM21", str(mine), "-q", "-t", "lexical"]) == 0
    assert (mine / "scores" / "score_lexical_dev_by_pair.csv").is_file()


def test_run_invalid_submission_exit_1_with_findings(imported, tmp_path, capsys):
    _, sub = imported
    mine = tmp_path / "sub"
    shutil.copytree(sub, mine)
    lines = (mine / "lexical/dev.txt").read_text().splitlines()
    lines[2] = lines[2].split()[0] + " abc"
    (mine / "lexical/dev.txt").write_text("\n".join(lines) + "\n")
    assert main(["benchmarks:run", "sLM21", str(mine), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "lexical/dev.txt" in err and "line 3:" in err and "[bad_score]" in err
    assert not (tmp_path / "o").exists(), "nothing is written for an invalid submission"
    assert main(["benchmarks:run", "sLM21", str(mine), "--json"]) == 1
    res = _json(capsys)
    assert not res["ok"] and res["findings"][0]["line"] == 3


def test_run_usage_errors(zhome, slm21_case, tmp_path, capsys):
    _, sub = slm21_case
    assert main(["benchmarks:run", "sLM21", str(sub)]) == 2
    err = capsys.readouterr().err
    assert "dataset sLM21-dataset is not imported" in err and "zrc datasets:import" in err
    assert main(["benchmarks:run", "sLM99", str(sub)]) == 2
    assert main(["benchmarks:run", "sLM21", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["benchmarks:run"])
    assert exc.value.code == 2


def test_run_bad_task_or_set(imported, capsys):
    _, sub = imported
    assert main(["benchmarks:run", "sLM21", str(sub), "-t", "phonetic"]) == 2
    assert "unknown task 'phonetic'" in capsys.readouterr().err
    assert main(["benchmarks:run", "sLM21", str(sub), "-s", "train"]) == 2


def test_init_templates(tmp_path, capsys):
    loc = tmp_path / "s"
    assert main(["submission:init", "sLM21", str(loc)]) == 0
    for d in ("lexical", "syntactic", "semantic/dev/synthetic", "semantic/dev/librispeech",
              "semantic/test/synthetic", "semantic/test/librispeech", "scores"):
        assert (loc / d).is_dir(), d
    assert "benchmark_name: sLM21" in (loc / "meta.yaml").read_text()
    assert main(["submission:init", "sLM21", str(loc)]) == 2
    assert "already exists" in capsys.readouterr().err
    p = tmp_path / "p"
    assert main(["submission:init", "prosAudit", str(p)]) == 0
    assert (p / "english_dev.txt").is_file() and (p / "english_test.txt").is_file()


def test_verify(imported, tmp_path, capsys):
    _, sub = imported
    assert main(["submission:verify", str(sub)]) == 0
    assert "is a valid sLM21 submission" in capsys.readouterr().out
    mine = tmp_path / "sub"
    shutil.copytree(sub, mine)
    (mine / "syntactic/test.txt").unlink()
    assert main(["submission:verify", str(mine), "--json"]) == 1
    assert any(f["code"] == "missing_file" for f in _json(capsys)["findings"])
    (mine / "meta.yaml").unlink()
    assert main(["submission:verify", str(mine)]) == 2
    assert "--benchmark" in capsys.readouterr().err


def test_params_show_and_reset(tmp_path, capsys):
    loc = tmp_path / "s"
    assert main(["submission:init", "sLM21", str(loc), "--json"]) == 0
    assert _json(capsys)["location"] == str(loc)
    (loc / "params.yaml").write_text("semantic:\n  metric: cosine\n  pooling: max\n")
    assert main(["submission:params", str(loc), "--json"]) == 0
    assert _json(capsys)["params"]["semantic"]["metric"] == "cosine"
    assert main(["submission:params", str(loc), "--reset", "--json"]) == 0
    assert _json(capsys)["params"]["semantic"]["metric"] == "euclidean"
    (loc / "params.yaml").write_text("semantic:\n  metric: nope\n")
    assert main(["submission:params", str(loc)]) == 1
    assert "params_metric" in capsys.readouterr().err


def test_demo(zhome, tmp_path, capsys):
    assert main(["demo", "--dir", str(tmp_path / "demo"), "--json"]) == 0
    res = _json(capsys)
    assert res["ok"] and len(res["files"]) == 16   # 14 reference files + score_confidence.csv + provenance.json


def test_demo_never_deletes_user_files(zhome, tmp_path, capsys):
    d = tmp_path / "d"
    d.mkdir()
    (d / "thesis.tex").write_text("x")
    assert main(["demo", "--dir", str(d)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (d / "thesis.tex").read_text() == "x" and sorted(p.name for p in d.iterdir()) == ["thesis.tex"]
    f = tmp_path / "file"
    f.write_text("keep")
    assert main(["demo", "--dir", str(f)]) == 2 and f.read_text() == "keep"
    # a folder made by a previous demo is replaced, and a new empty one is used as is
    e = tmp_path / "e"
    assert main(["demo", "--dir", str(e), "--json"]) == 0
    capsys.readouterr()
    assert main(["demo", "--dir", str(e), "--json"]) == 0
    assert _json(capsys)["ok"]


def test_unreachable_server_is_one_sentence(zhome, slm21_case, monkeypatch, capsys):
    monkeypatch.setenv("ZRC_SERVER", "127.0.0.1:1")
    assert main(["benchmarks:run", "sLM21", str(slm21_case[1])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach the zrc server at 127.0.0.1:1") and err.count("\n") == 0


@pytest.mark.integration
def test_console_script_never_tracebacks(tmp_path):
    env = dict(os.environ, ZRC_HOME=str(tmp_path / "h"))
    exe = Path(sys.executable).parent / "zrc"
    for args in (["benchmarks:run", "sLM21", str(tmp_path)], ["datasets:import", "/nonexistent"],
                 ["submission:verify", str(tmp_path)]):
        p = subprocess.run([str(exe), *args], capture_output=True, text=True, env=env)
        assert p.returncode == 2, p.stderr
        assert "Traceback" not in p.stderr and p.stderr.startswith("error: ")


def test_submit_publishes_and_writes_model_id(zhome, slm21_case, tmp_path, capsys):
    dataset_dir, sub = slm21_case
    mine = tmp_path / "sub"
    shutil.copytree(sub, mine)
    assert main(["datasets:import", str(dataset_dir)]) == 0
    capsys.readouterr()
    assert main(["submit", str(mine), "--json"]) == 0
    res = _json(capsys)
    assert res["ok"] and res["model_id"]
    assert f"model_id: {res['model_id']}" in (mine / "meta.yaml").read_text()
    assert main(["leaderboard", "sLM21", "--json"]) == 0
    (entry,) = _json(capsys)["data"]
    assert entry["model_id"] == res["model_id"] and entry["scores"] == res["scores"]
    assert main(["leaderboard", "sLM21", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (",label,model_id,submission_di,set,lexical_all,lexical_in_vocab,syntactic,"
                        "semantic_synth,semantic_libri,semantic_w_synth,semantic_w_libri")
    assert [ln.split(",")[4] for ln in lines[1:]] == ["dev", "test"]


def test_submit_refuses_incomplete_meta_before_uploading(zhome, slm21_case, tmp_path, capsys):
    mine = tmp_path / "sub"
    shutil.copytree(slm21_case[1], mine)
    text = (mine / "meta.yaml").read_text().replace("username: demo", "username: '<your name>'")
    (mine / "meta.yaml").write_text(text)
    assert main(["submit", str(mine)]) == 1
    err = capsys.readouterr().err
    assert "meta.yaml" in err and "[meta_template]" in err and "cannot be submitted" in err
    assert not (zhome / "store").exists(), "nothing was started or uploaded"


def test_login_needs_a_server(zhome, monkeypatch, capsys):
    monkeypatch.delenv("ZRC_SERVER", raising=False)
    assert main(["user:login", "--token", "x"]) == 2
    assert "ZRC_SERVER" in capsys.readouterr().err


def test_credentials_file_is_private(zhome):
    from zrc.cli import credentials
    p = credentials.save("h:1", "tok")
    assert oct(p.stat().st_mode & 0o777) == "0o600"
    assert credentials.load("h:1") == "tok" and credentials.load("other:2") is None


def _store_files(zhome: Path, bucket: str) -> list[Path]:
    assert (zhome / "store" / bucket).is_dir(), bucket
    return [p for p in (zhome / "store" / bucket).rglob("*") if p.is_file()]


def test_local_run_reads_the_folder_in_place(imported, zhome, tmp_path):
    """Embedded mode: no archive, no pooled copy, no byte of the submission lands in ZRC_HOME."""
    dataset_dir, sub = imported
    mine = tmp_path / "sub"
    shutil.copytree(sub, mine)
    (mine / "semantic/dev/synthetic/.DS_Store").write_bytes(b"junk")   # left out, as the archive does
    out = tmp_path / "o"
    assert main(["benchmarks:run", "sLM21", str(mine), "-o", str(out), "-q"]) == 0
    core = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21").files()
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    assert written.pop("score_confidence.csv") and written.pop("provenance.json")   # ours, next to the reference's
    assert written == core
    assert _store_files(zhome, "submissions") == []
    assert not [p for p in (zhome / "tmp").rglob("*") if p.is_file()]
    sub_bytes = sum(p.stat().st_size for p in mine.rglob("*") if p.is_file())
    results = sum(p.stat().st_size for p in _store_files(zhome, "results"))
    assert results < sub_bytes, "only job records and results are kept"
    # the folder's fingerprint keys cached results: a changed file is scored again
    lines = (mine / "lexical/dev.txt").read_text().splitlines()
    flipped = [f"{ln.split()[0]} {-float(ln.split()[1])}" for ln in lines]
    (mine / "lexical/dev.txt").write_text("\n".join(flipped) + "\n")
    assert main(["benchmarks:run", "sLM21", str(mine), "-o", str(out), "-q", "-t", "lexical", "-s", "dev"]) == 0
    again = evaluate(load_dataset(str(dataset_dir)), DirTree(mine), "sLM21", sets=["dev"], tasks=["lexical"]).files()
    assert (out / "score_lexical_dev_by_pair.csv").read_bytes() == again["score_lexical_dev_by_pair.csv"]
    assert again["score_lexical_dev_by_pair.csv"] != core["score_lexical_dev_by_pair.csv"]


def test_local_run_invalid_folder_findings_by_line(imported, tmp_path, capsys):
    _, sub = imported
    mine = tmp_path / "sub"
    shutil.copytree(sub, mine)
    np_file = next((mine / "semantic/dev/librispeech").iterdir())
    np_file.write_bytes(b"not a numpy file")
    assert main(["benchmarks:run", "sLM21", str(mine), "-q"]) == 1
    err = capsys.readouterr().err
    assert f"semantic/dev/librispeech/{np_file.name}" in err and "Traceback" not in err
