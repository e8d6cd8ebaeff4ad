"""Scoring: one generic pair scorer (lexical, syntactic, ProsAudit) and the semantic scorer.

Outputs are the reference's score files (same names, columns, row order), kept
as full-precision :class:`Table` objects; :func:`render` turns them into the
``%.4f`` CSV bytes. The leaderboard is computed from the tables, not from the
rounded CSVs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .confidence import Units, pair_units, semantic_units
from .dataset import PairGold, SemanticGold, as_key, key_codes
from .params import Params
from .stats import (
    cdist_mean,
    group_stats,
    pair_score,
    paired_distances,
    spearman,
)
from .submission import ScoreFile
from .table import Table, write_csv

FREQ_EDGES = np.array([0.0, 1.0, 5.0, 20.0, 100.0])
# The reference's labels; they are off by one (bins are 0, 1-4, 5-19, 20-99, >=100) but kept
# so published numbers stay comparable.
FREQ_LABELS = np.array(["oov", "1-5", "6-20", "21-100", ">100"], dtype=object)


@dataclass
class TaskResult:
    """Score tables of one (task, set); ``files()`` renders the reference's CSVs."""

    task: str
    set: str
    tables: dict[str, Table] = field(default_factory=dict)
    # per-unit data for confidence intervals (not a score file: the reference's files stay as they are)
    units: Units | None = None

    def files(self) -> dict[str, bytes]:
        return {name: write_csv(t) for name, t in self.tables.items()}


def score_file_names(task: str, set_: str) -> dict[str, str]:
    """Reference score-file names per table kind."""
    if task == "lexical":
        return {k: f"score_lexical_{set_}_{k}.csv" for k in ("by_pair", "by_frequency", "by_length")}
    if task == "syntactic":
        return {k: f"score_syntactic_{set_}_{k}.csv" for k in ("by_pair", "by_type")}
    if task == "semantic":
        return {"pairs": f"score_semantic_{set_}_pairs.csv", "correlation": f"score_semantic_{set_}_correlation.csv"}
    return {k: f"score_prosodic_english_{set_}_{k}.csv" for k in ("by_pair", "by_type")}


def _na(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "iu":
        return np.zeros(values.size, bool)
    return as_key(values) == ""


def _by_group(codes: np.ndarray, values: np.ndarray, labels: np.ndarray, label_name: str,
              ngroups: int | None = None) -> Table:
    ng = int(codes.max()) + 1 if ngroups is None else ngroups
    n, mean, std = group_stats(codes, values, ng)
    return Table({label_name: labels, "n": n.astype(np.int64), "score": mean, "std": std})


def _sorted_groups(table: Table, values_rows: np.ndarray, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Group code (in sorted key order) of each row in ``values_rows`` and the first row of each group."""
    # only the key columns: taking the whole table would decode every text column of a compiled gold
    codes = key_codes(Table({c: table[c][values_rows] for c in columns}), columns)
    _, first, inv = np.unique(codes, return_index=True, return_inverse=True)
    return inv, first


def score_pairs(gold: PairGold, sub: ScoreFile, params: Params) -> TaskResult:
    """Lexical, syntactic or ProsAudit scores of one set.

    Each submission score is placed on its gold row by name (a missing name is NaN,
    i.e. a lost pair; with validation on this cannot happen), every pair of the
    gold is scored, then averaged over voices within the task's group key.
    """
    table = gold.table
    values = np.full(table.nrows, np.nan)
    rows = gold.lookup(sub.names)
    known = rows >= 0
    # first occurrence wins on duplicates (which validation reports as errors)
    values[rows[known][::-1]] = sub.scores[known][::-1]
    ps = pair_score(values[gold.good], values[gold.bad])
    inv, first = _sorted_groups(table, gold.good, gold.layout.group_key)
    ngroups = first.size
    counts = np.bincount(inv, minlength=ngroups)
    by_pair_score = np.bincount(inv, weights=ps, minlength=ngroups) / counts
    good_first = gold.good[first]
    bad_first = gold.bad[first]
    names = score_file_names(gold.task.name, gold.set)
    result = TaskResult(gold.task.name, gold.set)

    if gold.task.subset == "lexical":
        result.units = pair_units("lexical", by_pair_score,
                                  in_vocab=table["frequency"][good_first].astype(np.float64) >= 1)
        word = table["word"]
        if _na(word[gold.bad]).all():
            word = table["phones"]  # the reference's fallback when non-words have no spelling
        freq = table["frequency"][good_first].astype(np.float64)
        length = table["length"][good_first]
        lp = params.lexical
        if lp.by_pair:
            result.tables[names["by_pair"]] = Table(
                {"word": word[good_first], "non word": word[bad_first], "score": by_pair_score})
        if lp.by_frequency:
            ok = ~np.isnan(freq) & (freq >= 0)
            band = np.searchsorted(FREQ_EDGES, freq[ok], side="right") - 1
            result.tables[names["by_frequency"]] = _by_group(band, by_pair_score[ok], FREQ_LABELS, "frequency", 5)
        if lp.by_length:
            ok = ~_na(length)
            lu, linv = np.unique(length[ok], return_inverse=True)
            result.tables[names["by_length"]] = _by_group(linv, by_pair_score[ok], lu, "length", lu.size)
        return result

    types = table["type"][good_first]
    tu, tinv = np.unique(as_key(types), return_inverse=True)
    result.units = pair_units(gold.task.name, by_pair_score, types=as_key(types))
    if gold.task.subset == "syntactic":
        sentences = table["transcription"]
        result.tables[names["by_pair"]] = Table({
            "sentence": sentences[good_first],
            "non sentence": sentences[bad_first],
            "score": by_pair_score,
        })
    else:
        result.tables[names["by_pair"]] = Table(
            {"id": table["id"][good_first], "type": types, "score": by_pair_score})
    result.tables[names["by_type"]] = _by_group(tinv, by_pair_score, tu.astype(object), "type", tu.size)
    return result


# --------------------------------------------------------------------------------------------- semantic

def pool(arr: np.ndarray, pooling: str) -> np.ndarray:
    """One vector per file, computed in float64 whatever the stored precision.

    ``off`` compares first frames, which is what the reference's
    ``cdist(atleast_2d(x), atleast_2d(y))[0][0]`` does for synthetic pairs.
    """
    a = arr.astype(np.float64, copy=False)
    if pooling == "mean":
        return a.mean(axis=0)
    if pooling == "max":
        return a.max(axis=0)
    if pooling == "min":
        return a.min(axis=0)
    if pooling == "sum":
        return a.sum(axis=0)
    if pooling == "last":
        return a[-1]
    if pooling == "lastlast":
        return a[-2]
    return a[0]


@dataclass
class PooledSet:
    """Pooled vectors of one semantic type of one set, aligned with the gold rows of that type."""

    vectors: np.ndarray          # (n_tokens, dim) float64; NaN rows where a file was missing/invalid
    present: np.ndarray          # bool per token


def _word_index(words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted unique words, and for each the slice of token rows in ``order``."""
    order = np.argsort(words, kind="stable")
    uw, start, count = np.unique(words[order], return_index=True, return_counts=True)
    return uw, order, start, count


def _librispeech_distances(gold: SemanticGold, pooled: PooledSet, w1: np.ndarray, w2: np.ndarray,
                           metric: str) -> np.ndarray:
    sel = as_key(gold.gold["type"]) == "librispeech"
    words = as_key(gold.gold["word"])[sel]
    uw, order, start, count = _word_index(words)
    i1 = np.searchsorted(uw, w1)
    i2 = np.searchsorted(uw, w2)
    if metric in ("seuclidean", "mahalanobis"):
        # set-dependent metrics: call cdist exactly as the reference does
        out = np.empty(w1.size)
        for k in range(w1.size):
            x = pooled.vectors[order[start[i1[k]]:start[i1[k]] + count[i1[k]]]]
            y = pooled.vectors[order[start[i2[k]]:start[i2[k]] + count[i2[k]]]]
            out[k] = cdist_mean(x, y, metric)
        return out
    c1, c2 = count[i1], count[i2]
    combos = c1 * c2
    pair_id = np.repeat(np.arange(w1.size), combos)
    offs = np.arange(pair_id.size) - np.repeat(np.cumsum(combos) - combos, combos)
    a = order[start[i1][pair_id] + offs // c2[pair_id]]
    b = order[start[i2][pair_id] + offs % c2[pair_id]]
    d = paired_distances(pooled.vectors, pooled.vectors, a, b, metric)
    return np.bincount(pair_id, weights=d, minlength=w1.size) / combos


def _synthetic_distances(gold: SemanticGold, pooled: PooledSet, w1: np.ndarray, w2: np.ndarray,
                         metric: str) -> np.ndarray:
    sel = as_key(gold.gold["type"]) == "synthetic"
    words = as_key(gold.gold["word"])[sel]
    voices = as_key(gold.gold["voice"])[sel]
    uw, winv = np.unique(words, return_inverse=True)
    _, vinv = np.unique(voices, return_inverse=True)
    nv = int(vinv.max()) + 1 if vinv.size else 0
    idx = np.full((uw.size, nv), -1, dtype=np.int64)
    idx[winv, vinv] = np.arange(words.size)
    A = idx[np.searchsorted(uw, w1)]
    B = idx[np.searchsorted(uw, w2)]
    valid = (A >= 0) & (B >= 0)
    pair_id = np.nonzero(valid)[0]
    d = paired_distances(pooled.vectors, pooled.vectors, A[valid], B[valid], metric)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(pair_id, weights=d, minlength=w1.size) / valid.sum(axis=1)


def score_semantic(gold: SemanticGold, pooled: dict[str, PooledSet], params: Params) -> TaskResult:
    """Distances per pair (pairs.csv + score) and Spearman correlations per (type, dataset)."""
    sp = params.semantic
    pairs = gold.pairs
    ptypes = as_key(pairs["type"])
    enabled = [t for t, on in (("synthetic", sp.synthetic), ("librispeech", sp.librispeech)) if on]
    keep = np.flatnonzero(np.isin(ptypes, enabled))
    out = pairs.take(keep)
    score = np.full(keep.size, np.nan)
    w1_all, w2_all, kt = as_key(out["word_1"]), as_key(out["word_2"]), ptypes[keep]
    for t in enabled:
        m = kt == t
        if not m.any():
            continue
        fn = _librispeech_distances if t == "librispeech" else _synthetic_distances
        score[m] = fn(gold, pooled[t], w1_all[m], w2_all[m], sp.metric)
    out = out.with_column("score", score)
    names = score_file_names("semantic", gold.set)
    result = TaskResult("semantic", gold.set, {names["pairs"]: out})
    result.units = semantic_units(as_key(out["type"]), as_key(out["dataset"]), out["relatedness"],
                                  out["similarity"], score)
    if sp.correlations:
        result.tables[names["correlation"]] = correlations(out)
    return result


def correlations(scored_pairs: Table) -> Table:
    """100 x Spearman(-human, distance) per (type, dataset), sorted like pandas' groupby."""
    codes = key_codes(scored_pairs, ("type", "dataset"))
    if codes.size == 0:
        return Table({"type": np.empty(0, object), "dataset": np.empty(0, object), "correlation": np.empty(0)})
    ug, first, inv = np.unique(codes, return_index=True, return_inverse=True)
    rel = scored_pairs["relatedness"].astype(np.float64)
    sim = scored_pairs["similarity"].astype(np.float64)
    score = scored_pairs["score"]
    corr = np.empty(ug.size)
    for g in range(ug.size):  # one iteration per (type, dataset): at most 24
        m = inv == g
        human = sim[m] if np.isnan(rel[m]).any() else rel[m]
        corr[g] = 100 * spearman(-human, score[m])
    return Table({"type": scored_pairs["type"][first], "dataset": scored_pairs["dataset"][first],
                  "correlation": corr})
