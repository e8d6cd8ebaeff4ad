"""Intervals and paired comparisons: calibrated on simulated data, exact where they claim to be.

The fast versions run in ``make test``; the expensive ones (more simulated draws) only with
``ZRC_SLOW_TESTS=1 .venv/bin/python -m pytest -m slow tests/test_confidence.py -s``.
"""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import pytest
import scipy.stats

from zrc.core.analysis import (
    COLUMNS,
    CONFIDENCE_FILE,
    PROVENANCE_FILE,
    analysis_files,
    load_folder,
    published,
)
from zrc.core.confidence import (
    RESAMPLES,
    _spearman_counts,
    bootstrap,
    compare,
    pair_units,
    semantic_units,
)
from zrc.core.dataset import load_dataset
from zrc.core.leaderboard import entry_from_summaries, summarize
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree


def expensive(fn):
    """Marked slow, and skipped unless ZRC_SLOW_TESTS is set (``make test`` runs the fast versions)."""
    skip = pytest.mark.skipif(not os.environ.get("ZRC_SLOW_TESTS"), reason="set ZRC_SLOW_TESTS=1 to run")
    return pytest.mark.slow(skip(fn))


def _analysis(case, bench):
    dataset_dir, sub = case
    ds = load_dataset(str(dataset_dir))
    ev = evaluate(ds, DirTree(sub), bench)
    assert ev.ok
    sms = [summarize(r, ds) for r in ev.results]
    entry = entry_from_summaries(bench, sms, ev.report.params, None)
    files = analysis_files(bench, sms, entry, dataset="d", dataset_digest="abc", submission_digest="s",
                           scorer_version="v", job_id="j")
    return ev, entry, files


@pytest.mark.parametrize("case,bench", [("slm21_case", "sLM21"), ("prosaudit_case", "prosAudit")])
def test_estimate_is_the_published_score_and_ci_brackets_it(request, case, bench):
    ev, entry, files = _analysis(request.getfixturevalue(case), bench)
    rows = list(csv.DictReader(io.StringIO(files[CONFIDENCE_FILE].decode())))
    assert tuple(rows[0]) == COLUMNS
    metrics = {r["metric"] for r in rows}
    if bench == "sLM21":
        assert {"lexical.all", "lexical.in_vocab", "syntactic", "semantic.normal.synthetic",
                "semantic.weighted.librispeech"} <= metrics
        assert any(m.count(".") == 2 and m.split(".")[1] not in ("normal", "weighted") for m in metrics)
    else:
        assert metrics == {"protosyntax", "lexical"}
    assert {r["set"] for r in rows} == {"dev", "test"}
    for r in rows:
        assert float(r["estimate"]) == published(entry, r["metric"], r["set"])   # exactly, not approximately
        assert int(r["resamples"]) == RESAMPLES and int(r["n_units"]) > 0
        if r["ci_low"]:
            assert float(r["ci_low"]) <= float(r["estimate"]) + 1e-9 <= float(r["ci_high"]) + 2e-9


def test_intervals_are_deterministic_and_files_round_trip(slm21_case):
    _, _, a = _analysis(slm21_case, "sLM21")
    _, _, b = _analysis(slm21_case, "sLM21")
    assert a == b
    folder = load_folder("x", a)
    assert folder.provenance["dataset_digest"] == "abc" and folder.provenance["confidence"]["seed"] is not None
    assert len(folder.rows) == a[CONFIDENCE_FILE].decode().count("\n") - 1


def test_units_match_the_by_pair_files(slm21_case):
    """What compare reads back from the score files is what the scorer resampled."""
    ev, _, extra = _analysis(slm21_case, "sLM21")
    files = {**ev.files(), **extra}
    folder = load_folder("x", files)
    for r in ev.results:
        u = folder.units(r.task, r.set)
        assert u.n == r.units.n
        np.testing.assert_allclose(u.score, r.units.score, atol=5e-5, equal_nan=True)   # %.4f files
        if r.task == "lexical":
            assert (u.aux["in_vocab"] == r.units.aux["in_vocab"]).all()


def test_count_weighted_spearman_equals_scipy_on_the_resamples():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, 40).astype(float)          # human judgements with ties
    y = np.round(rng.normal(size=40), 1)              # distances with ties
    idx = rng.integers(0, 40, (60, 40))
    counts = np.stack([np.bincount(i, minlength=40) for i in idx]).astype(float)
    want = [scipy.stats.spearmanr(x[i], y[i])[0] for i in idx]
    np.testing.assert_allclose(_spearman_counts(x, y, counts), want, atol=1e-12)


def _coverage(sims: int, n: int, p: float, seed: int) -> float:
    """Share of simulated submissions (unit accuracy ~ Bernoulli(p)) whose 95% interval covers p."""
    rng = np.random.default_rng(seed)
    hits = 0
    for k in range(sims):
        u = pair_units("syntactic", (rng.random(n) < p).astype(float))
        (iv,) = bootstrap(u, f"sim{k}")
        hits += iv.ci_low <= p <= iv.ci_high
    return hits / sims


def test_interval_covers_the_true_accuracy_about_95_percent():
    cov = _coverage(400, 400, 0.7, seed=11)
    print(f"coverage of the 95% interval, 400 simulated submissions of 400 units: {cov:.3f}")
    assert 0.93 <= cov <= 0.97, cov


@expensive
def test_interval_coverage_many_draws():
    cov = _coverage(2000, 1000, 0.8, seed=12)
    print(f"coverage of the 95% interval, 2000 simulated submissions of 1000 units: {cov:.3f}")
    assert 0.935 <= cov <= 0.965, cov


def test_semantic_interval_covers_the_true_correlation():
    """Spearman over 60 pairs from a bivariate normal whose true rho_s is known in closed form."""
    rng = np.random.default_rng(5)
    r = 0.6
    true = 100 * 6 / np.pi * np.arcsin(r / 2)
    hits, sims = 0, 200
    for k in range(sims):
        z = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=60)
        u = semantic_units(np.full(60, "synthetic"), np.full(60, "sim"), z[:, 0], z[:, 0], -z[:, 1])
        iv = next(i for i in bootstrap(u, f"s{k}") if i.metric == "semantic.sim.synthetic")
        hits += iv.ci_low <= true <= iv.ci_high
    # a percentile interval for a rank correlation over 60 pairs runs slightly narrow: 90-97 % is honest
    print(f"coverage of the Spearman interval (60 pairs, 200 draws): {hits / sims:.3f}")
    assert 0.90 <= hits / sims <= 0.97, hits / sims


def _paired(sims: int, n: int, delta: float, seed: int) -> np.ndarray:
    """p-values of the paired test for simulated A/B whose accuracies differ by ``delta``."""
    rng = np.random.default_rng(seed)
    ps = []
    for k in range(sims):
        ability = rng.random(n)                        # item difficulty shared by both systems (pairing)
        a = (rng.random(n) < ability).astype(float)
        b = (rng.random(n) < np.clip(ability + delta, 0, 1)).astype(float)
        (c,) = compare(pair_units("syntactic", a), pair_units("syntactic", b), f"h{k}")
        ps.append(c.p_value)
    return np.array(ps)


def test_paired_test_holds_its_level_under_exchangeable_pairs():
    ps = _paired(300, 300, 0.0, seed=21)
    print(f"paired test under H0 (300 draws): rejection rate at 5% {(ps < 0.05).mean():.3f}")
    assert (ps < 0.05).mean() <= 0.06
    # binary units make the statistic discrete: p-values are super-uniform (P(p <= a) <= a), not uniform
    for alpha in (0.01, 0.1, 0.2, 0.5):
        assert (ps <= alpha).mean() <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / ps.size)


def test_paired_p_values_are_uniform_under_h0_for_continuous_units():
    rng = np.random.default_rng(25)
    ps = []
    for k in range(200):
        base = rng.random(100)
        a, b = base + rng.normal(0, 0.2, 100), base + rng.normal(0, 0.2, 100)
        (c,) = compare(pair_units("syntactic", a), pair_units("syntactic", b), f"u{k}")
        ps.append(c.p_value)
    assert np.mean(np.array(ps) < 0.05) <= 0.06
    assert scipy.stats.kstest(ps, "uniform").pvalue > 0.01


def _normal_power(n: int, delta: float) -> float:
    """Power of a two-sided 5% z-test on the mean paired difference of the :func:`_paired` design."""
    u = np.linspace(0, 1, 200001)
    pa, pb = u, np.clip(u + delta, 0, 1)
    d = (pb - pa).mean()
    var = (pa * (1 - pa)).mean() + (pb * (1 - pb)).mean() + (pb - pa).var()
    z = d / np.sqrt(var / n)
    return float(scipy.stats.norm.sf(1.96 - z) + scipy.stats.norm.cdf(-1.96 - z))


def test_paired_test_has_the_power_theory_predicts():
    ps = _paired(100, 1500, 0.05, seed=22)
    power, theory = (ps < 0.05).mean(), _normal_power(1500, 0.05)
    print(f"power at +5 points over 1500 paired units: {power:.2f} (normal theory {theory:.2f})")
    assert abs(power - theory) <= 0.12


@expensive
def test_paired_test_level_and_power_many_draws():
    h0 = _paired(1000, 500, 0.0, seed=23)
    h1 = _paired(400, 1000, 0.03, seed=24)
    power, theory = np.mean(h1 < 0.05), _normal_power(1000, 0.03)
    print(f"level {np.mean(h0 < 0.05):.3f}; power at +3 points over 1000 units {power:.2f} (theory {theory:.2f})")
    assert np.mean(h0 < 0.05) <= 0.06 and abs(power - theory) <= 0.08


def test_paired_interval_covers_the_true_difference():
    rng = np.random.default_rng(31)
    hits, sims, n, delta = 0, 200, 500, 0.04
    for k in range(sims):
        ability = rng.random(n)
        a = (rng.random(n) < ability).astype(float)
        b = (rng.random(n) < np.clip(ability + delta, 0, 1)).astype(float)
        true = np.clip(ability + delta, 0, 1).mean() - ability.mean()
        (c,) = compare(pair_units("syntactic", a), pair_units("syntactic", b), f"d{k}")
        hits += c.ci_low <= true <= c.ci_high
    print(f"coverage of the paired interval of B - A (200 draws): {hits / sims:.3f}")
    assert 0.92 <= hits / sims <= 0.98, hits / sims


def test_semantic_compare_identical_systems_and_scale_free():
    rng = np.random.default_rng(3)
    n = 50
    human = rng.random(n)
    dist = -human + rng.normal(0, 0.5, n)
    a = semantic_units(np.full(n, "synthetic"), np.repeat(["d1", "d2"], n // 2), human, human, dist)
    # B: the same distances on another scale (monotone transform): every correlation is unchanged
    b = semantic_units(np.full(n, "synthetic"), np.repeat(["d1", "d2"], n // 2), human, human, np.exp(3 * dist))
    for c in compare(a, b, "dev"):
        assert c.diff == pytest.approx(0, abs=1e-9) and c.p_value == 1.0


def test_compare_refuses_units_that_differ_in_number():
    with pytest.raises(ValueError, match="same gold"):
        compare(pair_units("syntactic", np.ones(5)), pair_units("syntactic", np.ones(6)), "dev")


def test_provenance_records_the_in_vocab_flags(slm21_case):
    ev, _, files = _analysis(slm21_case, "sLM21")
    prov = json.loads(files[PROVENANCE_FILE])
    assert set(prov["units"]) == {"lexical/dev", "lexical/test"}
    assert prov["confidence"]["interval"] == "percentile bootstrap" and prov["confidence"]["level"] == 0.95


@pytest.mark.parametrize("case,bench", [("slm21_case", "sLM21"), ("prosaudit_case", "prosAudit")])
def test_resampled_statistic_is_the_published_one(request, case, bench):
    """The metric functions the bootstrap resamples compute, on the original units, the published value."""
    ev, entry, _ = _analysis(request.getfixturevalue(case), bench)
    checked = 0
    for r in ev.results:
        for iv in bootstrap(r.units, r.set):
            want = published(entry, iv.metric, r.set)
            if want is None:
                continue
            assert iv.estimate == pytest.approx(want, rel=1e-12, abs=1e-12), (r.task, r.set, iv.metric)
            checked += 1
    assert checked >= (30 if bench == "sLM21" else 4)


def test_a_missing_distance_voids_only_its_dataset():
    rng = np.random.default_rng(9)
    n = 40
    human = rng.random(n)
    dist = -human + rng.normal(0, 0.3, n)
    dist[3] = np.nan                                   # an embedding file was missing (--skip-validation)
    u = semantic_units(np.full(n, "synthetic"), np.repeat(["d1", "d2"], n // 2), human, human, dist)
    iv = {i.metric: i for i in bootstrap(u, "dev")}
    assert np.isnan(iv["semantic.d1.synthetic"].estimate) and np.isnan(iv["semantic.d1.synthetic"].ci_low)
    assert iv["semantic.d2.synthetic"].ci_low < iv["semantic.d2.synthetic"].estimate
    # normal/weighted leave the NaN correlation out, as the leaderboard does
    assert iv["semantic.normal.synthetic"].estimate == pytest.approx(iv["semantic.d2.synthetic"].estimate)
    normal, d2 = iv["semantic.normal.synthetic"], iv["semantic.d2.synthetic"]
    assert (normal.ci_low, normal.ci_high) == (d2.ci_low, d2.ci_high)   # d1 is out of every resample too
