"""Unit tests of the scoring core beyond the goldens: key pairing, edge values, leaderboard."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest

from zrc.core.dataset import load_dataset
from zrc.core.leaderboard import build_entry, dumps
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree
from zrc.core.stats import VECTORISED_METRICS, group_stats, paired_distances
from zrc.core.table import read_csv, write_csv


def _shuffle_rows(path, seed=0):
    lines = path.read_text().splitlines()
    head, body = lines[0], lines[1:]
    rng = np.random.default_rng(seed)
    body = [body[i] for i in rng.permutation(len(body))]
    path.write_text("\n".join([head, *body]) + "\n")


@pytest.mark.parametrize("task,bench,case", [("syntactic", "sLM21", "slm21_case"),
                                             ("english", "prosAudit", "prosaudit_case")])
def test_pairing_is_by_key_not_row_position(request, tmp_path, task, bench, case):
    """The reference pairs these rows by position and silently mis-scores a re-ordered gold."""
    dataset_dir, sub = request.getfixturevalue(case)
    before = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), bench, tasks=[task]).files()
    moved = tmp_path / "ds"
    shutil.copytree(dataset_dir, moved)
    sub_name = "english" if task == "english" else task
    for s in ("dev", "test"):
        _shuffle_rows(moved / sub_name / s / "gold.csv", seed=len(s))
    after = evaluate(load_dataset(str(moved)), DirTree(sub), bench, tasks=[task]).files()
    assert before == after


def test_column_order_does_not_matter(slm21_case, tmp_path):
    dataset_dir, sub = slm21_case
    before = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21", tasks=["lexical"]).files()
    moved = tmp_path / "ds"
    shutil.copytree(dataset_dir, moved)
    for s in ("dev", "test"):
        p = moved / "lexical" / s / "gold.csv"
        rows = list(csv.reader(io.StringIO(p.read_text())))
        perm = [7, 3, 0, 5, 1, 6, 2, 4]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([[r[i] for i in perm] for r in rows])
        p.write_text(buf.getvalue())
    after = evaluate(load_dataset(str(moved)), DirTree(sub), "sLM21", tasks=["lexical"]).files()
    assert before == after


def test_group_stats_match_numpy():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, 1000)
    vals = rng.random(1000)
    n, mean, std = group_stats(codes, vals, 6)
    for g in range(5):
        v = vals[codes == g]
        assert n[g] == v.size
        assert mean[g] == pytest.approx(v.mean())
        assert std[g] == pytest.approx(v.std(ddof=1))
    assert n[5] == 0 and np.isnan(mean[5]) and np.isnan(std[5])


@pytest.mark.parametrize("metric", sorted(VECTORISED_METRICS) + ["hamming", "jensenshannon"])
def test_paired_distances_equal_scipy_cdist(metric):
    import scipy.spatial.distance as ssd

    rng = np.random.default_rng(1)
    x = rng.random((40, 7)) + 0.1
    ia = rng.integers(0, 40, 300)
    ib = rng.integers(0, 40, 300)
    got = paired_distances(x, x, ia, ib, metric)
    want = np.array([ssd.cdist(x[a:a + 1], x[b:b + 1], metric)[0, 0] for a, b in zip(ia, ib, strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_csv_round_trip_and_pandas_formatting():
    t = read_csv(b"a,b,c,d\n1,x y,2.5,\n2,\"q,r\",nan,NA\n")
    assert t["a"].dtype.kind == "i" and t["c"].dtype.kind == "f"
    out = write_csv(t).decode()
    assert out == 'a,b,c,d\n1,x y,2.5000,\n2,"q,r",,\n'


def test_underscored_numbers_stay_text():
    t = read_csv(b"filename,id\n10_7_2723,1\n2_7_2723,1\n")
    assert t["filename"].dtype.kind == "U"


def test_leaderboard_from_full_precision(slm21_case):
    dataset_dir, sub = slm21_case
    ds = load_dataset(str(dataset_dir))
    ev = evaluate(ds, DirTree(sub), "sLM21")
    entry = build_entry(ds, ev.results, ev.report.params, ev.report.meta, submission_id="s1")
    text = dumps(entry)
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    lex = next(r for r in ev.results if r.task == "lexical" and r.set == "dev")
    by_pair = lex.tables["score_lexical_dev_by_pair.csv"]["score"]
    assert back["scores"]["lexical"]["all"]["dev"] == pytest.approx(by_pair.mean(), abs=1e-12)
    freq = lex.tables["score_lexical_dev_by_frequency.csv"]
    inv = freq["frequency"] != "oov"
    want = np.sum(freq["score"][inv] * freq["n"][inv]) / freq["n"][inv].sum()
    assert back["scores"]["lexical"]["in_vocab"]["dev"] == pytest.approx(want, abs=1e-12)
    assert back["details"]["benchmarks"] == ["sLM-21"]
    assert back["details"]["parameters"]["semantic"]["metric"] == "euclidean"
    assert {e["set"] for e in back["extras"]["semantic"]} == {"dev", "test"}
    assert [r["frequency"] for r in back["extras"]["lexical"]["by_frequency"]] == ["oov", "1-5", "6-20",
                                                                                   "21-100", ">100"]


def test_leaderboard_weights_by_key_and_no_nan_for_empty_band(slm21_case):
    dataset_dir, sub = slm21_case
    ds = load_dataset(str(dataset_dir))
    ev = evaluate(ds, DirTree(sub), "sLM21", sets=["test"])
    sem = next(r for r in ev.results if r.task == "semantic")
    corr = sem.tables["score_semantic_test_correlation.csv"]
    pairs = ds.gold("semantic", "test").pairs
    syn = corr["type"] == "synthetic"
    sizes = np.array([np.sum((pairs["type"] == "synthetic") & (pairs["dataset"] == d)) for d in corr["dataset"][syn]])
    c = corr["correlation"][syn]
    ok = ~np.isnan(c)
    want = np.sum(c[ok] * sizes[ok]) / sizes[ok].sum()
    entry = build_entry(ds, ev.results, ev.report.params, ev.report.meta)
    assert entry["scores"]["semantic"]["weighted"]["synthetic"]["test"] == pytest.approx(want)
    assert entry["scores"]["lexical"]["all"]["dev"] is None  # dev not evaluated: null, not NaN


def test_prosaudit_entry(prosaudit_case):
    dataset_dir, sub = prosaudit_case
    ds = load_dataset(str(dataset_dir))
    ev = evaluate(ds, DirTree(sub), "prosAudit")
    entry = json.loads(dumps(build_entry(ds, ev.results, ev.report.params, ev.report.meta)))
    assert set(entry["scores"]) == {"protosyntax", "lexical"}
    assert entry["scores"]["lexical"]["dev"]["n"] > 0
    assert entry["extras"] is None and entry["details"]["benchmarks"] == []
