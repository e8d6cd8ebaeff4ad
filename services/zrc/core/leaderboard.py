"""Leaderboard entries in the reference's schema, computed from full-precision results.

The reference rebuilds entries from its 4-decimal CSVs and has a few arithmetic
bugs there; here (documented in docs/architecture.md):

* values come from the unrounded tables;
* ``lexical.in_vocab`` is the n-weighted mean of the non-empty in-vocabulary bands
  (the reference yields NaN as soon as one band is empty);
* ``semantic.weighted`` weights each correlation by the number of pairs of *its*
  (type, dataset) (the reference aligns weights by row position);
* NaN is written as ``null``, never as a bare ``NaN`` token;
* ProsAudit's ``paper_ref`` is "authors (year title)" as for sLM21 (the reference
  copies the paper URL there).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import uuid
from typing import Any, cast

import numpy as np

from .confidence import bootstrap, pack_mask
from .dataset import Dataset, SemanticGold, as_key, key_codes
from .params import Params
from .scoring import FREQ_LABELS, TaskResult, score_file_names
from .table import Table


def _f(v: Any) -> float | None:
    """A JSON-safe float: NaN/inf become None."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _col(values: np.ndarray) -> list:
    if values.dtype.kind == "f":
        return [_f(v) for v in values.tolist()]
    if values.dtype.kind in "iu":
        return [int(v) for v in values.tolist()]
    return ["" if v is None else str(v) for v in values.tolist()]


def _table_json(t: Table) -> dict[str, list]:
    return {k: _col(v) for k, v in t.columns.items()}


def _json_table(d: dict[str, list] | None) -> Table | None:
    if d is None:
        return None
    cols = {}
    for k, v in d.items():
        if k in ("n",):
            cols[k] = np.asarray(v, dtype=np.int64)
        elif k in ("score", "std", "correlation"):
            cols[k] = np.asarray([np.nan if x is None else x for x in v], dtype=np.float64)
        else:
            cols[k] = np.asarray(v, dtype=object if v and not isinstance(v[0], int) else np.int64)
    return Table(cols)


def summarize(result: TaskResult, dataset: Dataset) -> dict:
    """Full-precision aggregates of one (task, set), JSON-safe: what leaderboards are built from.

    Scorers return this next to the score files, so entries never depend on 4-decimal CSVs.
    """
    names = score_file_names(result.task, result.set)
    t = result.tables
    out: dict[str, Any] = {"task": result.task, "set": result.set}
    if result.task in ("lexical", "syntactic"):
        bp = t.get(names["by_pair"])
        out["all"] = _mean(bp)
    for kind in ("by_frequency", "by_length", "by_type", "correlation"):
        if kind in names and names[kind] in t:
            out[kind] = _table_json(t[names[kind]])
    if result.task == "semantic":
        pairs = cast(SemanticGold, dataset.gold("semantic", result.set)).pairs
        codes = key_codes(pairs, ("type", "dataset"))
        _, first, counts = np.unique(codes, return_index=True, return_counts=True)
        out["sizes"] = {f"{pairs['type'][i]}|{pairs['dataset'][i]}": int(c)
                        for i, c in zip(first, counts, strict=True)}
    if result.units is not None:
        # intervals travel with the summary so the gateway can write score_confidence.csv without re-scoring
        out["confidence"] = [{"metric": iv.metric, "estimate": _f(iv.estimate), "ci_low": _f(iv.ci_low),
                              "ci_high": _f(iv.ci_high), "n_units": iv.n_units, "resamples": iv.resamples}
                             for iv in bootstrap(result.units, result.set)]
        if result.task == "lexical":  # row-aligned with by_pair: what `zrc compare` needs for in_vocab
            out["in_vocab"] = pack_mask(result.units.aux["in_vocab"])
    return out


Summaries = dict[tuple[str, str], dict]


def _table(sm: Summaries, task: str, set_: str, kind: str) -> Table | None:
    s = sm.get((task, set_))
    return None if s is None else _json_table(s.get(kind))


def _mean(t: Table | None, col: str = "score") -> float | None:
    if t is None or t.nrows == 0:
        return None
    v = t[col].astype(np.float64)
    v = v[~np.isnan(v)]
    return _f(v.mean()) if v.size else None


def _in_vocab(t: Table | None) -> float | None:
    if t is None:
        return None
    band = t["frequency"]
    n = t["n"].astype(np.float64)
    s = t["score"].astype(np.float64)
    keep = (band != "oov") & (n > 0)
    return _f(np.sum(s[keep] * n[keep]) / n[keep].sum()) if keep.any() else None


def _weighted(corr: Table | None, sizes: dict[str, int] | None, type_: str) -> float | None:
    if corr is None or not sizes:
        return None
    sel = as_key(corr["type"]) == type_
    c = corr["correlation"][sel]
    w = np.array([sizes.get(f"{type_}|{d}", 0) for d in corr["dataset"][sel]], dtype=np.float64)
    ok = ~np.isnan(c) & (w > 0)
    return _f(np.sum(c[ok] * w[ok]) / w[ok].sum()) if ok.any() else None


def _merge_sets(dev: Table | None, test: Table | None, key: str, out_key: str) -> list[dict]:
    """Outer merge of dev/test detail tables on ``key`` -> reference extras records."""
    rows: dict[Any, dict] = {}
    order: list[Any] = []
    for set_, t in (("dev", dev), ("test", test)):
        if t is None:
            continue
        for i in range(t.nrows):
            k = t[key][i]
            k = k.item() if hasattr(k, "item") else k
            if k not in rows:
                rows[k] = {out_key: k}
                order.append(k)
            rows[k].update({f"{set_}_score": _f(t["score"][i]), f"{set_}_std": _f(t["std"][i]),
                            f"{set_}_n": _f(t["n"][i])})
    out = []
    for k in order:
        r = rows[k]
        out.append({out_key: r[out_key], **{f"{s}_{m}": r.get(f"{s}_{m}") for s in ("dev", "test")
                                           for m in ("score", "std", "n")}})
    return out


def _section(meta: dict | None, name: str) -> dict:
    """A mapping section of meta.yaml, or {} when it is absent or not a mapping (``model_info: some text``
    is a warning finding of check_meta for an unpublished run, never a crash here)."""
    value = meta.get(name) if isinstance(meta, dict) else None
    return value if isinstance(value, dict) else {}


def _publication(meta: dict | None) -> dict:
    pub = _section(meta, "publication")
    meta = meta if isinstance(meta, dict) else {}
    authors, title, year = pub.get("authors"), pub.get("paper_title"), pub.get("publication_year")
    return {
        "author_short": pub.get("author_label"),
        "authors": authors,
        "paper_title": title,
        "paper_ref": f"{authors} ({year} {title})" if authors and title else None,
        "bib_ref": pub.get("bib_reference"),
        "paper_url": pub.get("paper_url"),
        "pub_year": pub.get("publication_year"),
        "team_name": pub.get("team"),
        "institution": pub.get("institution") or "",
        "code": meta.get("code_url"),
        "DOI": pub.get("DOI"),
        "open_science": bool(meta.get("open_source", False)),
    }


def _header(meta: dict | None, submission_id: str | None, when: _dt.datetime | None) -> dict:
    mi = _section(meta, "model_info")
    meta = meta if isinstance(meta, dict) else {}
    return {
        "model_id": mi.get("model_id"),
        "submission_id": submission_id or str(uuid.uuid4()),
        "index": -1,
        "submission_date": (when or _dt.datetime.now(_dt.UTC)).isoformat(),
        "submitted_by": meta.get("username"),
        "description": mi.get("system_description") or "",
        "publication": _publication(meta),
    }


def slm21_entry(res: Summaries, params: Params, meta: dict | None, *,
                submission_id: str | None = None, when: _dt.datetime | None = None) -> dict:
    sets = ("dev", "test")

    def tup(fn) -> dict:
        return {s: fn(s) for s in sets}

    def corr(s: str) -> Table | None:
        return _table(res, "semantic", s, "correlation")

    def sizes(s: str) -> dict | None:
        return (res.get(("semantic", s)) or {}).get("sizes")

    def normal(type_: str, s: str) -> float | None:
        c = corr(s)
        if c is None:
            return None
        sel = as_key(c["type"]) == type_
        return _mean(c.take(np.flatnonzero(sel)), "correlation")

    sem_extras = []
    for s in sets:
        c = corr(s)
        if c is None:
            continue
        by_ds: dict[str, dict] = {}
        for t, d, v in zip(as_key(c["type"]), as_key(c["dataset"]), c["correlation"], strict=True):
            by_ds.setdefault(d, {})[t] = _f(v)
        for d in sorted(by_ds):
            sem_extras.append({"set": s, "dataset": d, "librispeech": by_ds[d].get("librispeech"),
                               "synthetic": by_ds[d].get("synthetic")})
    mi = _section(meta, "model_info")
    entry = _header(meta, submission_id, when)
    entry["details"] = {"train_set": mi.get("train_set"), "benchmarks": ["sLM-21"],
                        "gpu_budget": None if mi.get("gpu_budget") is None else str(mi.get("gpu_budget")),
                        "parameters": params.to_meta()}
    entry["scores"] = {
        "lexical": {
            "in_vocab": tup(lambda s: _in_vocab(_table(res, "lexical", s, "by_frequency"))),
            "all": tup(lambda s: (res.get(("lexical", s)) or {}).get("all")),
        },
        "syntactic": tup(lambda s: (res.get(("syntactic", s)) or {}).get("all")),
        "semantic": {
            "normal": {t: tup(lambda s, t=t: normal(t, s)) for t in ("synthetic", "librispeech")},
            "weighted": {t: tup(lambda s, t=t: _weighted(corr(s), sizes(s), t))
                         for t in ("synthetic", "librispeech")},
        },
    }
    def both(task: str, kind: str) -> tuple[Table | None, Table | None]:
        return _table(res, task, "dev", kind), _table(res, task, "test", kind)

    by_freq = _merge_sets(*both("lexical", "by_frequency"), "frequency", "frequency")
    label_order = {str(v): i for i, v in enumerate(FREQ_LABELS)}
    by_freq.sort(key=lambda r: label_order.get(str(r["frequency"]), 99))
    entry["extras"] = {
        "lexical": {
            "by_length": _merge_sets(*both("lexical", "by_length"), "length", "length"),
            "by_frequency": by_freq,
        },
        "syntactic": _merge_sets(*both("syntactic", "by_type"), "type", "typeset"),
        "semantic": sem_extras,
    }
    return entry


def prosaudit_entry(res: Summaries, meta: dict | None, *, submission_id: str | None = None,
                    when: _dt.datetime | None = None) -> dict:
    mi = _section(meta, "model_info")
    entry = _header(meta, submission_id, when)
    entry["index"] = None
    entry["details"] = {"train_set": mi.get("train_set"), "benchmarks": [],
                        "gpu_budget": None if mi.get("gpu_budget") is None else str(mi.get("gpu_budget")),
                        "parameters": {}}
    scores: dict[str, dict] = {}
    for type_ in ("protosyntax", "lexical"):
        scores[type_] = {}
        for s in ("dev", "test"):
            t = _table(res, "english", s, "by_type")
            rec: dict[str, float | int | None] = {"score": None, "n": None, "std": None}
            if t is not None:
                hit = np.flatnonzero(as_key(t["type"]) == type_)
                if hit.size:
                    i = hit[0]
                    rec = {"score": _f(t["score"][i]), "n": int(t["n"][i]), "std": _f(t["std"][i])}
            scores[type_][s] = rec
    entry["scores"] = scores
    entry["extras"] = None
    return entry


def entry_from_summaries(benchmark: str, summaries: list[dict], params: Params, meta: dict | None, **kw) -> dict:
    """The leaderboard entry of a submission from the summaries of its scored (task, set) parts."""
    res = {(s["task"], s["set"]): s for s in summaries}
    if benchmark == "prosAudit":
        return prosaudit_entry(res, meta, **kw)
    return slm21_entry(res, params, meta, **kw)


def build_entry(dataset: Dataset, results: list[TaskResult], params: Params, meta: dict | None, **kw) -> dict:
    """In-process convenience: summarise then build (the services do the two steps apart)."""
    return entry_from_summaries(dataset.benchmark.name, [summarize(r, dataset) for r in results], params, meta, **kw)


def dumps(entry: dict) -> str:
    """JSON with NaN refused outright (``allow_nan=False``): a bare NaN can never be written."""
    return json.dumps(entry, indent=2, allow_nan=False, ensure_ascii=False)
