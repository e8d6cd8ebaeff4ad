"""Vectorised group statistics and paired distances shared by every scorer."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

# scipy is imported where it is called, not here, and only for metrics numpy does not compute here: importing
# scipy.stats costs ~1 s and ~70 MB of resident memory (a third of a 768-dim local run's margin), for two
# functions. Spearman's rho and average ranks are computed below exactly as scipy.stats computes them.


def group_stats(codes: np.ndarray, values: np.ndarray, ngroups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """count / mean / std (ddof=1, as pandas) of ``values`` per group code in ``[0, ngroups)``."""
    n = np.bincount(codes, minlength=ngroups)
    s = np.bincount(codes, weights=values, minlength=ngroups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / n
        dev = values - mean[codes]
        ss = np.bincount(codes, weights=dev * dev, minlength=ngroups)
        std = np.sqrt(ss / (n - 1))
    std[n < 2] = np.nan
    return n, mean, std


def pair_score(good: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """1 if the correct item scores higher, 0.5 on a tie, 0 otherwise (NaN loses)."""
    return 0.5 * (good == bad) + (good > bad)


def _diff(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x - y


def _cos(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    dot = np.einsum("ij,ij->i", x, y)
    nx = np.einsum("ij,ij->i", x, x)
    ny = np.einsum("ij,ij->i", y, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.maximum(1.0 - dot / np.sqrt(nx * ny), 0.0)


def _paired_impl(metric: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """Row-wise d(x_i, y_i) for metrics that depend only on the two vectors, as scipy computes them."""
    if metric in ("euclidean", "minkowski"):  # minkowski defaults to p=2 in cdist
        return lambda x, y: np.sqrt(np.einsum("ij,ij->i", _diff(x, y), _diff(x, y)))
    if metric == "sqeuclidean":
        return lambda x, y: np.einsum("ij,ij->i", _diff(x, y), _diff(x, y))
    if metric == "cityblock":
        return lambda x, y: np.abs(x - y).sum(axis=1)
    if metric == "chebyshev":
        return lambda x, y: np.abs(x - y).max(axis=1)
    if metric == "cosine":
        return _cos
    if metric == "correlation":
        return lambda x, y: _cos(x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True))
    if metric == "braycurtis":
        def bc(x, y):
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.abs(x - y).sum(axis=1) / np.abs(x + y).sum(axis=1)
        return bc
    if metric == "canberra":
        def cb(x, y):
            num = np.abs(x - y)
            den = np.abs(x) + np.abs(y)
            with np.errstate(invalid="ignore", divide="ignore"):
                q = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
            return q.sum(axis=1)
        return cb
    return None


VECTORISED_METRICS = frozenset(
    ("euclidean", "minkowski", "sqeuclidean", "cityblock", "chebyshev", "cosine", "correlation",
     "braycurtis", "canberra")
)

# Rows per block when expanding token pairs, and the bytes one temporary of a block may take: 4096 rows of
# 768-d float64 were 25 MB per temporary and about 100 MB per scorer call; results are row-wise, so the
# block size never changes a number.
_BLOCK = 4096
_BLOCK_BYTES = 4 << 20


def paired_distances(x: np.ndarray, y: np.ndarray, ia: np.ndarray, ib: np.ndarray, metric: str) -> np.ndarray:
    """d(x[ia[k]], y[ib[k]]) for every k, in blocks."""
    fn = _paired_impl(metric)
    out = np.empty(ia.size)
    # each temporary (x rows, y rows, their difference) is at most _BLOCK_BYTES, whatever the dimension
    block = max(1, min(_BLOCK, _BLOCK_BYTES // (8 * max(1, x.shape[1] if x.ndim == 2 else 1))))
    for start in range(0, ia.size, block):
        sl = slice(start, start + block)
        a, b = x[ia[sl]], y[ib[sl]]
        if fn is not None:
            out[sl] = fn(a, b)
        else:
            out[sl] = [_cdist1(a[k], b[k], metric) for k in range(a.shape[0])]
    return out


def _cdist1(a: np.ndarray, b: np.ndarray, metric: str) -> float:
    import scipy.spatial.distance as ssd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import scipy.spatial.distance as ssd
            return float(ssd.cdist(a[None, :], b[None, :], metric=metric)[0, 0])
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            return float("nan")


def cdist_mean(x: np.ndarray, y: np.ndarray, metric: str) -> float:
    """``cdist(x, y, metric).mean()``: the reference's librispeech distance, for metrics whose
    value depends on the whole token sets (seuclidean, mahalanobis)."""
    import scipy.spatial.distance as ssd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import scipy.spatial.distance as ssd
            return float(ssd.cdist(x, y, metric=metric).mean())
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            return float("nan")


def rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis, as ``scipy.stats.rankdata(x, axis=-1)``: ties share the mean of
    their positions (exact half-integers, so any correct ranking gives the same floats); a row holding a
    NaN ranks as NaN throughout."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    out = np.empty(x.shape)
    if n == 0:
        return out
    order = np.argsort(x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, axis=-1)
    pos = np.broadcast_to(np.arange(n), x.shape)
    first = np.ones(x.shape, bool)
    first[..., 1:] = xs[..., 1:] != xs[..., :-1]
    last = np.ones(x.shape, bool)
    last[..., :-1] = first[..., 1:]
    lo = np.maximum.accumulate(np.where(first, pos, 0), axis=-1)
    hi = np.flip(np.minimum.accumulate(np.flip(np.where(last, pos, n - 1), axis=-1), axis=-1), axis=-1)
    np.put_along_axis(out, order, (lo + hi) / 2 + 1, axis=-1)
    out[np.isnan(x).any(axis=-1)] = np.nan
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho as ``scipy.stats.spearmanr(a, b)[0]`` (NaN in, NaN out; NaN for a constant input):
    the Pearson correlation (``np.corrcoef``) of the average ranks, as scipy computes it."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2 or (a[0] == a).all() or (b[0] == b).all() or np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.corrcoef(np.column_stack((rankdata(a), rankdata(b))), rowvar=False)[1, 0])
