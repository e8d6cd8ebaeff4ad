"""``zrc compare`` and ``zrc report`` end to end (embedded mode)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from zrc.cli.main import main
from zrc.core.generate import GenOptions, generate


@pytest.fixture()
def zhome(tmp_path, monkeypatch):
    monkeypatch.setenv("ZRC_HOME", str(tmp_path / "zrc-home"))
    return tmp_path / "zrc-home"


@pytest.fixture()
def two_runs(zhome, slm21_case, tmp_path, capsys):
    """A: the generated submission; B: the same with some lexical test scores flipped (a worse system)."""
    dataset_dir, sub = slm21_case
    assert main(["datasets:import", str(dataset_dir), "-q"]) == 0
    assert main(["benchmarks:run", "sLM21", str(sub), "-o", str(tmp_path / "A"), "--json"]) == 0
    job_a = json.loads(capsys.readouterr().out)["job_id"]
    worse = tmp_path / "subB"
    shutil.copytree(sub, worse)
    lines = (worse / "lexical/test.txt").read_text().splitlines()
    lines = [f"{ln.split()[0]} {-float(ln.split()[1])}" if i % 3 == 0 else ln for i, ln in enumerate(lines)]
    (worse / "lexical/test.txt").write_text("\n".join(lines) + "\n")
    assert main(["benchmarks:run", "sLM21", str(worse), "-o", str(tmp_path / "B"), "--json"]) == 0
    job_b = json.loads(capsys.readouterr().out)["job_id"]
    return tmp_path / "A", tmp_path / "B", job_a, job_b


def _estimates(folder):
    with open(folder / "score_confidence.csv") as fh:
        return {(r["set"], r["metric"]): float(r["estimate"]) for r in csv.DictReader(fh) if r["estimate"]}


def test_compare_json_pairs_every_shared_metric(two_runs, capsys):
    a, b, _, _ = two_runs
    assert main(["compare", str(a), str(b), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(list(r) == ["task", "set", "metric", "a", "b", "diff", "ci_low", "ci_high", "p_value"]
                        for r in rows)
    ea, eb = _estimates(a), _estimates(b)
    assert {(r["set"], r["metric"]) for r in rows} == set(ea) & set(eb)
    for r in rows:
        assert r["a"] == ea[(r["set"], r["metric"])] and r["b"] == eb[(r["set"], r["metric"])]
        assert r["diff"] == r["b"] - r["a"]
    by = {(r["set"], r["metric"]): r for r in rows}
    same = by[("dev", "lexical.all")]                # untouched: no difference, nothing to test
    assert same["diff"] == 0 and same["p_value"] == 1.0
    hit = by[("test", "lexical.all")]                # a third of the items flipped: a real loss
    assert hit["diff"] < 0 and hit["ci_high"] < 0 and hit["p_value"] < 0.01


def test_compare_table_and_job_ids(two_runs, capsys):
    a, b, job_a, job_b = two_runs
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "95% CI of B - A" in out and "lexical.in_vocab" in out
    assert main(["compare", job_a, job_b, "--json"]) == 0   # the same evaluations, fetched by job id
    by_job = json.loads(capsys.readouterr().out)
    assert main(["compare", str(a), str(b), "--json"]) == 0
    assert by_job == json.loads(capsys.readouterr().out)


def test_compare_refuses_different_gold(two_runs, tmp_path, capsys):
    a, _, job_a, _ = two_runs
    ds, sub = generate(tmp_path / "other", "sLM21", GenOptions(scale=0.005, seed=8, dim=6, frames=(2, 6)))
    assert main(["datasets:import", str(ds), "--name", "other", "-q"]) == 0
    capsys.readouterr()
    assert main(["benchmarks:run", "sLM21", str(sub), "--dataset", "other", "-o", str(tmp_path / "C"), "--json"]) == 0
    job_c = json.loads(capsys.readouterr().out)["job_id"]
    for args in ([str(a), str(tmp_path / "C")], [job_a, job_c]):   # folders here, jobs on the server side
        assert main(["compare", *args, "--json"]) == 2
        captured = capsys.readouterr()
        answer = json.loads(captured.out)   # under --json a usage error is JSON on stdout too
        assert answer["ok"] is False and "different gold" in answer["error"]
        err = captured.err.strip()
        assert "different gold" in err and err.count("\n") == 0 and "Traceback" not in err


def test_compare_refuses_folders_without_intervals(two_runs, tmp_path, capsys):
    a, _, _, _ = two_runs
    old = tmp_path / "old"
    shutil.copytree(a, old)
    (old / "score_confidence.csv").unlink()
    assert main(["compare", str(a), str(old)]) == 2
    assert "has no score_confidence.csv" in capsys.readouterr().err
    (old / "score_confidence.csv").write_text("task,set\n")
    (old / "provenance.json").write_text("{}")
    assert main(["compare", str(a), str(old)]) == 2
    assert "provenance.json" in capsys.readouterr().err
    (old / "score_confidence.csv").write_text(
        "task,set,metric,estimate,ci_low,ci_high,n_units,resamples\nlexical,dev,lexical.all,abc,0,1,5,1000\n")
    (old / "provenance.json").write_text((a / "provenance.json").read_text())
    assert main(["compare", str(a), str(old)]) == 2
    assert "score_confidence.csv: line 2: expected numbers" in capsys.readouterr().err
    assert main(["compare", str(a), "no-such-job"]) == 2
    assert "no-such-job" in capsys.readouterr().err


def test_report_html_is_self_contained_and_escaped(two_runs, tmp_path, capsys):
    a, b, _, _ = two_runs
    evil = tmp_path / "<script>alert(1)</script>"
    shutil.copytree(a, evil)
    out = tmp_path / "r.html"
    assert main(["report", str(evil), "-o", str(out), "--compare", str(b)]) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "&lt;script&gt;" in page
    assert not [u for u in re.findall(r'(?:src|href)="([^"]+)"', page)]     # no external asset
    assert page.count("<svg") >= 6                                           # headline, bands, lengths, types...
    est = _estimates(a)[("dev", "lexical.all")]
    assert f"{est:.4f}" in page and "by frequency band" in page and "by word length" in page
    assert "Comparison: B - A" in page and "lexical.in_vocab" in page
    ET.fromstring(re.search(r"<svg.*?</svg>", page, re.S).group(0))         # the SVG is well-formed XML


def test_report_markdown(two_runs, tmp_path, capsys):
    a, _, _, _ = two_runs
    assert main(["report", str(a), "--markdown"]) == 0
    md = (a / "report.md").read_text()
    assert "| lexical.all |" in md and "95% CI" in md and "<svg" not in md


def test_published_entries_carry_intervals(zhome, slm21_case, tmp_path, capsys):
    dataset_dir, sub = slm21_case
    assert main(["datasets:import", str(dataset_dir), "-q"]) == 0
    for k in range(2):
        mine = tmp_path / f"sub{k}"
        shutil.copytree(sub, mine)
        if k:
            lines = (mine / "syntactic/test.txt").read_text().splitlines()
            lines = [f"{ln.split()[0]} {-float(ln.split()[1])}" if i % 4 == 0 else ln for i, ln in enumerate(lines)]
            (mine / "syntactic/test.txt").write_text("\n".join(lines) + "\n")
        assert main(["submit", str(mine), "-q"]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "sLM21", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)["data"]
    for e in entries:
        iv = {(r["set"], r["metric"]): r for r in e["zrc"]["intervals"]}
        assert iv[("test", "syntactic")]["estimate"] == e["scores"]["syntactic"]["test"]
        assert iv[("test", "syntactic")]["ci_low"] <= e["scores"]["syntactic"]["test"] <= iv[("test", "syntactic")]["ci_high"]
    assert main(["leaderboard", "sLM21", "--csv", "--intervals"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert len(rows) == 4 and float(rows[1]["syntactic_ci_low"]) < float(rows[1]["syntactic_ci_high"])
    assert main(["leaderboard", "sLM21"]) == 0
    captured = capsys.readouterr()
    assert "±" in captured.out


def test_neighbours_not_significantly_different():
    from zrc.cli.analysis import indistinct_neighbours

    def entry(v, lo, hi):
        return {"scores": {"lexical": {"test": {"score": v}}, "protosyntax": {"test": {"score": v}}},
                "zrc": {"intervals": [{"set": "test", "metric": m, "ci_low": lo, "ci_high": hi}
                                      for m in ("lexical", "protosyntax")]}}
    close = [entry(0.70, 0.66, 0.74), entry(0.71, 0.67, 0.75), entry(0.90, 0.89, 0.91)]
    lines = indistinct_neighbours("prosAudit", close)
    assert lines == ["lexical: #2 ≈ #1", "protosyntax: #2 ≈ #1"]   # #3 is clearly ahead of both


def test_compare_pairs_semantic_type_by_type(two_runs, slm21_case, tmp_path, capsys):
    """B scored without librispeech (params.yaml) still pairs with A on the synthetic pairs."""
    a, _, _, _ = two_runs
    synth_only = tmp_path / "synth"
    shutil.copytree(slm21_case[1], synth_only)
    params = synth_only / "params.yaml"
    params.write_text(params.read_text().replace("librispeech: true", "librispeech: false"))
    assert main(["benchmarks:run", "sLM21", str(synth_only), "-o", str(tmp_path / "S"), "-q", "-t", "semantic"]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(tmp_path / "S"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["task"] == "semantic" and "librispeech" not in r["metric"] for r in rows)
    assert any(r["ci_low"] is not None for r in rows)
    assert all(r["diff"] == 0 and r["p_value"] == 1.0 for r in rows if r["ci_low"] is not None)


def test_report_names_a_malformed_breakdown_file(two_runs, tmp_path, capsys):
    a, _, _, _ = two_runs
    bad = tmp_path / "bad"
    shutil.copytree(a, bad)
    (bad / "score_lexical_dev_by_frequency.csv").write_text("frequency,n,score,std\noov,x,0.5,0.1\n1-5,10,0.5,0.1\n")
    (bad / "score_lexical_dev_by_length.csv").write_text("garbage\n")
    assert main(["report", str(bad)]) == 0
    err = capsys.readouterr().err
    assert "score_lexical_dev_by_frequency.csv: line 2: expected numbers" in err
    assert "score_lexical_dev_by_length.csv:1: missing column" in err and "Traceback" not in err
    assert "1-5" in (bad / "report.html").read_text()   # the good row is kept


def test_compare_names_a_bad_unit_score(two_runs, tmp_path, capsys):
    a, b, _, _ = two_runs
    bad = tmp_path / "bad"
    shutil.copytree(b, bad)
    lines = (bad / "score_syntactic_test_by_pair.csv").read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",abc"
    (bad / "score_syntactic_test_by_pair.csv").write_text("\n".join(lines) + "\n")
    assert main(["compare", str(a), str(bad)]) == 2
    assert "score_syntactic_test_by_pair.csv: line 3: score 'abc' is not a number" in capsys.readouterr().err
