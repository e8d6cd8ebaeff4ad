"""How sure a score is: bootstrap intervals, paired comparisons (pure, vectorised numpy).

Method (documented in docs/analysis.md):

* the **unit** resampled is the one the scores average over, never a file: a lexical pair id with its voices,
  a syntactic (type, subtype, id), a ProsAudit (type, id), a semantic word pair within its (type, dataset);
* **percentile bootstrap**, :data:`RESAMPLES` resamples, 95 %; semantic resamples are *stratified*: each
  (type, dataset) keeps its number of pairs, so the weights of ``semantic.weighted`` stay fixed as published;
* seeded from (:data:`SEED`, task, set): the same scores give the same intervals, byte for byte;
* a paired comparison resamples the *same* units for both systems (paired bootstrap of B - A) and tests
  B = A by approximate randomisation: each unit's A and B values are swapped with probability 1/2;
  semantic distances are first replaced by their within-(type, dataset) ranks, which leaves every Spearman
  correlation unchanged and makes values of two systems with different distance scales exchangeable.

Every statistic is computed for a whole block of resamples at once. A bootstrap resample is a row of
draw counts (pair tasks: counts of *cells* of equal-valued units, one multinomial draw); means are
count-weighted, and Spearman's rho comes from count-weighted average ranks (no per-resample sort). Only
permutation rows, whose values differ, are ranked with :func:`zrc.core.stats.rankdata` (scipy's average ranks).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .stats import rankdata

RESAMPLES = 1000
LEVEL = 0.95
SEED = 2021
# Fewer units than this and a bootstrap says nothing honest (3 pairs have 10 distinct resamples): no interval.
MIN_UNITS = 5
# Cells (resamples x units) per block: bounds each (block x units) temporary at ~8 MB.
_BLOCK_CELLS = 1_000_000

METHOD = {"interval": "percentile bootstrap", "level": LEVEL, "resamples": RESAMPLES, "seed": SEED,
          "test": "paired approximate randomisation (two-sided)"}


@dataclass
class Units:
    """Per-unit data of one scored (task, set): what the intervals and paired comparisons resample.

    ``score`` is the per-unit value (pair accuracy averaged over voices, or a semantic distance);
    ``aux`` holds per-unit columns a metric needs (lexical in-vocabulary flag, ProsAudit type code,
    semantic human judgement); ``strata`` are column ranges resampled independently (semantic: one per
    (type, dataset), units sorted so that each stratum is contiguous).
    """

    task: str
    score: np.ndarray
    aux: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    strata: list[tuple[int, int]] = field(default_factory=list)
    stratum: dict[str, np.ndarray] = field(default_factory=dict)   # per-stratum codes (semantic type, dataset)

    @property
    def n(self) -> int:
        return int(self.score.size)


@dataclass
class Draw:
    """Rows on which to evaluate the metrics.

    ``counts`` (rows, n): how often each unit is drawn in each bootstrap resample (None: each unit once);
    ``score`` (rows, n), or (1, n) when every row has the same values (rows differ only in a permutation
    test). Working from counts, a resample's mean is one matrix-vector product and its ranks one cumulative
    sum over the sorted units: no (rows x units) sort.
    """

    counts: np.ndarray | None
    score: np.ndarray
    cache: dict = field(default_factory=dict)


Metric = Callable[[Draw], np.ndarray]


def _wmean(d: Draw, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean of the non-NaN (and masked-in) unit values of each row, resample counts as weights."""
    ok = ~np.isnan(d.score)
    if mask is not None:
        ok = ok & mask
    v = np.where(ok, d.score, 0.0)
    w = ok.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if d.counts is None:
            return v.sum(axis=1) / w.sum(axis=1)
        if v.shape[0] == 1:
            return (d.counts @ v[0]) / (d.counts @ w[0])
        return np.einsum("ij,ij->i", d.counts, v) / np.einsum("ij,ij->i", d.counts, w)


def _group_ranks(x: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average ranks (as ``rankdata``) of the tie groups of ``x`` (finite, (n,)) in each resample.

    Returns (group of each unit, group sizes in each resample (rows, groups), average rank of each group
    (rows, groups)): one gather, one reduceat and one cumulative sum per block, no per-resample sort.
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new = np.r_[True, xs[1:] != xs[:-1]] if xs.size else np.zeros(0, bool)
    g = counts if _identity(order) else counts[:, order]   # bootstrap() pre-sorts units by distance
    if not new.all():
        g = np.add.reduceat(g, np.flatnonzero(new), axis=1)   # copies drawn per tie group
    group_of = np.empty(x.size, np.int64)
    group_of[order] = np.cumsum(new) - 1
    avg = np.cumsum(g, axis=1)
    avg -= (g - 1) / 2
    return group_of, g, avg


def _identity(index: np.ndarray) -> bool:
    return bool((index == np.arange(index.size)).all())


def _spearman_counts(x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Spearman's rho of each resample (units weighted by their counts); NaN if a NaN unit is drawn.

    With N drawn units the mean rank is (N + 1) / 2, so rho = (S_xy - N m^2) / sqrt((S_xx - N m^2)
    (S_yy - N m^2)) with S the count-weighted sums of rank products; S_xx and S_yy are sums over tie groups.
    """
    bad = np.isnan(x) | np.isnan(y)
    c = counts * ~bad if bad.any() else counts
    x, y = np.where(bad, 0, x), np.where(bad, 0, y)
    gx, cx, ax = _group_ranks(x, c)
    gy, cy, ay = _group_ranks(y, c)
    n = c.sum(axis=1)
    nm2 = n * ((n + 1) / 2) ** 2
    sxx = np.einsum("ij,ij,ij->i", cx, ax, ax) - nm2
    syy = np.einsum("ij,ij,ij->i", cy, ay, ay) - nm2
    sxy = np.einsum("ij,ij,ij->i", c, ax[:, gx], ay if _identity(gy) else ay[:, gy]) - nm2
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = sxy / np.sqrt(sxx * syy)
    if bad.any():
        rho[(counts[:, bad] > 0).any(axis=1)] = np.nan
    return rho


def rowwise_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (average ranks for ties; NaN if a row has a NaN or is constant)."""
    x, y = np.broadcast_arrays(np.atleast_2d(x), np.atleast_2d(y))
    rx = rankdata(x)
    ry = rankdata(y)
    rx = rx - rx.mean(axis=1, keepdims=True)
    ry = ry - ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("ij,ij->i", rx, ry) / np.sqrt(np.einsum("ij,ij->i", rx, rx) * np.einsum("ij,ij->i", ry, ry))


def metrics_of(units: Units) -> dict[str, Metric]:
    """The published metrics of one (task, set) as functions of a :class:`Draw`.

    Each returns one value per row, with the leaderboard's rules (NaN units ignored in means, a NaN
    correlation left out of ``normal``/``weighted``); names are dotted paths in the entry's ``scores``.
    """
    t = units.task
    if t == "lexical":
        in_vocab = units.aux["in_vocab"]
        return {"lexical.all": _wmean, "lexical.in_vocab": lambda d: _wmean(d, in_vocab)}
    if t == "syntactic":
        return {"syntactic": _wmean}
    if t == "english":
        return {name: partial(_wmean, mask=units.aux["type"] == code)
                for code, name in enumerate(units.labels.get("type", []))}
    return _semantic_metrics(units)


def _semantic_metrics(units: Units) -> dict[str, Metric]:
    types, datasets = units.labels["type"], units.labels["dataset"]
    st_type, st_ds = units.stratum["type"], units.stratum["dataset"]
    weights = np.array([b - a for a, b in units.strata], dtype=np.float64)
    neg_human = -units.aux["human"]

    def corr(d: Draw, s: int) -> np.ndarray:
        if s not in d.cache:  # normal/weighted reuse the per-dataset correlations of the same rows
            a, b = units.strata[s]
            if d.counts is None:
                d.cache[s] = 100 * rowwise_spearman(neg_human[None, a:b], d.score[:, a:b])
            elif np.isnan(d.score[0, a:b]).any() or np.isnan(neg_human[a:b]).any():
                # NaN on the full data (published as null): NaN in every resample too, so normal/weighted
                # leave this dataset out of every resample as they do of the published value
                d.cache[s] = np.full(d.counts.shape[0], np.nan)
            else:
                d.cache[s] = 100 * _spearman_counts(neg_human[a:b], d.score[0, a:b], d.counts[:, a:b])
        return d.cache[s]

    out: dict[str, Metric] = {}
    for s in range(len(units.strata)):
        out[f"semantic.{datasets[st_ds[s]]}.{types[st_type[s]]}"] = partial(corr, s=s)
    for code, typ in enumerate(types):
        members = [s for s in range(len(units.strata)) if st_type[s] == code]
        if not members:
            continue

        def normal(d: Draw, members=members) -> np.ndarray:
            m = np.stack([corr(d, s) for s in members], axis=1)
            ok = ~np.isnan(m)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(ok, m, 0).sum(axis=1) / ok.sum(axis=1)

        def weighted(d: Draw, members=members, w=weights[members]) -> np.ndarray:
            m = np.stack([corr(d, s) for s in members], axis=1)
            ok = ~np.isnan(m)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(ok, m, 0) @ w / (ok * w).sum(axis=1)

        out[f"semantic.normal.{typ}"] = normal
        out[f"semantic.weighted.{typ}"] = weighted
    return out


def _rng(task: str, set_: str, salt: str = "") -> np.random.Generator:
    words = [SEED] + [zlib.crc32(s.encode()) for s in (task, set_, salt)]
    return np.random.default_rng(np.random.SeedSequence(words))


def _resample_counts(units: Units, rng: np.random.Generator, rows: int) -> np.ndarray:
    """(rows, n) draw counts; within each stratum units are drawn with replacement from that stratum only."""
    out = np.empty((rows, units.n))
    for a, b in units.strata or [(0, units.n)]:  # one per (type, dataset): at most 24
        k = b - a
        idx = rng.integers(0, k, size=(rows, k), dtype=np.int32)
        idx += (np.arange(rows, dtype=np.int32) * k)[:, None]   # row-local bins: one bincount per stratum
        out[:, a:b] = np.bincount(idx.ravel(), minlength=rows * k).reshape(rows, k)
    return out


def _percentile(values: np.ndarray) -> tuple[float, float]:
    v = values[~np.isnan(values)]
    if v.size < 0.5 * values.size:  # mostly undefined resamples: no honest interval
        return float("nan"), float("nan")
    lo, hi = np.percentile(v, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return float(lo), float(hi)


@dataclass
class Interval:
    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    n_units: int
    resamples: int


def _collapse(units: Units, *others: Units) -> tuple[list[Units], np.ndarray]:
    """Pair-task units with equal values (in ``units`` and ``others``) and equal aux merged into cells.

    A pair task's published scores are (masked) means, and unit scores take few distinct values (pair
    accuracies averaged over a few voices), so drawing how many units of each cell a resample holds
    (multinomial) gives exactly the unit bootstrap's distribution at a cost in cells, not units.
    Returns one cell-level Units per input (same cells, in the same order) and the cell sizes.
    """
    keys = [units.score, *(o.score for o in others), *(v.astype(np.float64) for v in units.aux.values())]
    mat = np.stack(keys, axis=1)
    nan = np.isnan(mat)
    # a NaN value and its NaN-ness are keys: NaN units of equal pattern share a cell (first member's values)
    _, first, size = np.unique(np.concatenate([np.where(nan, 0, mat), nan], axis=1), axis=0,
                               return_index=True, return_counts=True)
    out = [Units(u.task, u.score[first], {k: v[first] for k, v in u.aux.items()}, u.labels) for u in (units, *others)]
    return out, size.astype(np.int64)


def _cell_counts(rng: np.random.Generator, size: np.ndarray, rows: int) -> np.ndarray:
    """(rows, cells) bootstrap counts: how many of the n = size.sum() draws fall in each cell."""
    n = int(size.sum())
    if size.size <= 256:  # few cells (the usual case): one multinomial draw per resample
        return rng.multinomial(n, size / n, size=rows).astype(np.float64)
    # many cells (continuous unit scores): draw units and count them per cell
    cell_of = np.repeat(np.arange(size.size), size)
    flat = (np.arange(rows)[:, None] * size.size + cell_of[rng.integers(0, n, size=(rows, n))]).ravel()
    return np.bincount(flat, minlength=rows * size.size).reshape(rows, size.size).astype(np.float64)


def _blocks(resamples: int, width: int):
    """Row ranges of at most ~1M cells each: bounded temporaries whatever the number of units."""
    step = max(16, min(resamples, _BLOCK_CELLS // max(width, 1)))
    for start in range(0, resamples, step):
        yield min(step, resamples - start)


def _sorted_strata(units: Units) -> Units:
    perm = np.concatenate([a + np.argsort(units.score[a:b], kind="stable") for a, b in units.strata]
                          or [np.arange(units.n)])
    return Units(units.task, units.score[perm], {k: v[perm] for k, v in units.aux.items()}, units.labels,
                 units.strata, units.stratum)


def _stat_rows(metrics: dict[str, Metric], draws) -> dict[str, np.ndarray]:
    """Every metric on every block of draws (a generator: one block in memory at a time)."""
    acc: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    for d in draws:
        for m, fn in metrics.items():
            acc[m].append(fn(d))
    return {m: np.concatenate(v) for m, v in acc.items()}


def bootstrap(units: Units, set_: str, resamples: int = RESAMPLES) -> list[Interval]:
    """Percentile bootstrap interval of every metric of one (task, set); seeded by (task, set)."""
    if units.n == 0 or not metrics_of(units):
        return []
    rng = _rng(units.task, set_)
    if units.task == "semantic":
        # counts are exchangeable within a stratum: order each stratum's units by distance so that the
        # distance ranks of every resample need no gather (the metrics do not depend on unit order)
        units = _sorted_strata(units)
        metrics = metrics_of(units)
        ident = Draw(None, units.score[None, :])
        draws = (Draw(_resample_counts(units, rng, rows), units.score[None, :])
                 for rows in _blocks(resamples, units.n))
    else:
        (cu,), size = _collapse(units)
        metrics = metrics_of(cu)
        ident = Draw(size[None, :].astype(np.float64), cu.score[None, :])
        draws = (Draw(_cell_counts(rng, size, rows), cu.score[None, :])
                 for rows in _blocks(resamples, max(size.size, units.n if size.size > 256 else 1)))
    stats = _stat_rows(metrics, draws)
    out = []
    for m, fn in metrics.items():
        est, n = float(fn(ident)[0]), _n_units(units, m)
        ok = np.isfinite(est) and n >= MIN_UNITS
        lo, hi = _percentile(stats[m]) if ok else (float("nan"), float("nan"))
        out.append(Interval(m, est, lo, hi, n, resamples))
    return out


def _n_units(units: Units, metric: str) -> int:
    """Units that enter a metric (a ProsAudit type, a semantic dataset, in-vocabulary items...)."""
    if units.task == "lexical" and metric == "lexical.in_vocab":
        return int(units.aux["in_vocab"].sum())
    if units.task == "english":
        code = units.labels["type"].index(metric)
        return int((units.aux["type"] == code).sum())
    if units.task == "semantic":
        parts = metric.split(".")
        if parts[1] in ("normal", "weighted"):
            code = units.labels["type"].index(parts[2])
            return int(sum(b - a for s, (a, b) in enumerate(units.strata) if units.stratum["type"][s] == code))
        ds, typ = units.labels["dataset"].index(parts[1]), units.labels["type"].index(parts[2])
        return next((b - a for s, (a, b) in enumerate(units.strata)
                     if units.stratum["dataset"][s] == ds and units.stratum["type"][s] == typ), 0)
    return units.n


@dataclass
class Comparison:
    metric: str
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n_units: int


def semantic_ranks(units: Units) -> Units:
    """The same units with distances replaced by their within-stratum ranks (Spearman-invariant)."""
    r = np.empty_like(units.score, dtype=np.float64)
    for a, b in units.strata:  # one call per (type, dataset): at most 24
        seg = units.score[a:b]
        r[a:b] = np.nan if np.isnan(seg).any() else rankdata(seg) / max(b - a, 1)
    return Units(units.task, r, units.aux, units.labels, units.strata, units.stratum)


def compare(a: Units, b: Units, set_: str, resamples: int = RESAMPLES) -> list[Comparison]:
    """Paired bootstrap interval of B - A and approximate-randomisation p-value, per metric.

    ``a`` and ``b`` must hold the same units in the same order (same gold): only their scores differ.
    """
    if a.n != b.n:
        raise ValueError(f"{a.task} {set_}: {a.n} units in A but {b.n} in B; the two were not scored on the same gold")
    if a.n == 0 or not metrics_of(a):
        return []
    rng = _rng(a.task, set_, "compare")
    if a.task == "semantic":
        a, b = semantic_ranks(a), semantic_ranks(b)
        metrics = null_metrics = metrics_of(a)
        ia, ib = Draw(None, a.score[None, :]), Draw(None, b.score[None, :])

        def blocks():
            for rows in _blocks(resamples, a.n):
                counts = _resample_counts(a, rng, rows)
                swap = rng.random((rows, a.n)) < 0.5
                yield ((Draw(counts, a.score[None, :]), Draw(counts, b.score[None, :])),
                       (Draw(None, np.where(swap, b.score, a.score)), Draw(None, np.where(swap, a.score, b.score))))
    else:
        (ca, cb), size = _collapse(a, b)
        metrics = metrics_of(ca)
        w = size.astype(np.float64)[None, :]
        ia, ib = Draw(w, ca.score[None, :]), Draw(w, cb.score[None, :])
        # a permutation swaps each unit's A and B with probability 1/2: per cell, Binomial(size, 1/2) swaps;
        # A' holds the unswapped A values and the swapped B values of each cell (and B' the reverse)
        both = Units(a.task, np.concatenate([ca.score, cb.score]),
                     {k: np.concatenate([v, v]) for k, v in ca.aux.items()}, ca.labels)
        null_metrics = metrics_of(both)

        def blocks():
            for rows in _blocks(resamples, max(2 * size.size, a.n if size.size > 256 else 1)):
                counts = _cell_counts(rng, size, rows)
                swapped = rng.binomial(size, 0.5, size=(rows, size.size)).astype(np.float64)
                kept = w - swapped
                yield ((Draw(counts, ca.score[None, :]), Draw(counts, cb.score[None, :])),
                       (Draw(np.concatenate([kept, swapped], axis=1), both.score[None, :]),
                        Draw(np.concatenate([swapped, kept], axis=1), both.score[None, :])))
    observed = {m: float(fn(ib)[0] - fn(ia)[0]) for m, fn in metrics.items()}
    boot: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    null: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    for (da, db), (pa, pb) in blocks():
        for m in metrics:
            boot[m].append(metrics[m](db) - metrics[m](da))
            null[m].append(null_metrics[m](pb) - null_metrics[m](pa))
    out = []
    for m in metrics:
        d = observed[m]
        if not np.isfinite(d):
            out.append(Comparison(m, d, float("nan"), float("nan"), float("nan"), _n_units(a, m)))
            continue
        lo, hi = _percentile(np.concatenate(boot[m]))
        nd = np.abs(np.concatenate(null[m]))
        nd = nd[~np.isnan(nd)]
        # (1 + #{|null| >= |observed|}) / (1 + R): never 0, valid at any R; a tolerance absorbs float noise
        p = float((1 + np.sum(nd >= abs(d) - 1e-12)) / (1 + nd.size))
        out.append(Comparison(m, d, lo, hi, p, _n_units(a, m)))
    return out


# ------------------------------------------------------------------------------------- unit extraction

def pack_mask(mask: np.ndarray) -> str:
    """A boolean vector as base64 of its packed bits (compact enough for JSON: 10k flags -> 1.7 kB)."""
    return base64.b64encode(np.packbits(mask.astype(bool)).tobytes()).decode()


def unpack_mask(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(base64.b64decode(text), np.uint8), count=n).astype(bool)


def pair_units(task: str, score: np.ndarray, *, in_vocab: np.ndarray | None = None,
               types: np.ndarray | None = None) -> Units:
    """Units of a pair task from its by_pair rows (and the lexical in-vocabulary flags / ProsAudit types)."""
    score = np.asarray(score, dtype=np.float64)
    u = Units(task, score)
    if task == "lexical":
        u.aux["in_vocab"] = np.zeros(score.size, bool) if in_vocab is None else np.asarray(in_vocab, bool)
    elif task == "english":
        labels, codes = np.unique(np.asarray(types, dtype=str), return_inverse=True)
        u.aux["type"] = codes.astype(np.int64)
        u.labels["type"] = [str(x) for x in labels]
    return u


def semantic_units(types: np.ndarray, datasets: np.ndarray, relatedness: np.ndarray, similarity: np.ndarray,
                   score: np.ndarray) -> Units:
    """Units of the semantic task from its scored pairs: sorted by (type, dataset) into contiguous strata.

    The human judgement of a stratum is its relatedness, or its similarity when any relatedness is
    missing: the rule of :func:`zrc.core.scoring.correlations`.
    """
    types = np.asarray(types, dtype=str)
    datasets = np.asarray(datasets, dtype=str)
    tl, tcode = np.unique(types, return_inverse=True)
    dl, dcode = np.unique(datasets, return_inverse=True)
    order = np.lexsort((dcode, tcode))
    key = tcode[order] * max(dl.size, 1) + dcode[order]
    _, start, count = np.unique(key, return_index=True, return_counts=True)
    rel = np.asarray(relatedness, dtype=np.float64)[order]
    sim = np.asarray(similarity, dtype=np.float64)[order]
    human = rel.copy()
    strata = []
    for a, c in zip(start.tolist(), count.tolist(), strict=True):  # one per (type, dataset)
        if np.isnan(rel[a:a + c]).any():
            human[a:a + c] = sim[a:a + c]
        strata.append((a, a + c))
    u = Units("semantic", np.asarray(score, dtype=np.float64)[order], {"human": human}, strata=strata)
    u.labels = {"type": [str(x) for x in tl], "dataset": [str(x) for x in dl]}
    u.stratum = {"type": tcode[order][start], "dataset": dcode[order][start]}
    return u
