"""Score folders <-> intervals and comparisons: ``score_confidence.csv``, ``provenance.json``, per-unit data.

Next to the reference's score files (which stay byte-identical) an evaluation writes:

* ``score_confidence.csv`` — ``task,set,metric,estimate,ci_low,ci_high,n_units,resamples``; ``metric`` is the
  dotted path of the score in the leaderboard entry's ``scores`` (``lexical.all``, ``semantic.normal.synthetic``,
  ProsAudit ``protosyntax``...) or ``semantic.<dataset>.<type>`` for one correlation; ``estimate`` is the
  published value itself (taken from the entry, full precision, ``repr`` of the float);
* ``provenance.json`` — benchmark, dataset name and digest, submission digest, scorer version, the interval
  method, and the lexical in-vocabulary flags of the by_pair rows (so ``zrc compare`` can pair every unit
  from the folder alone).

Pure: bytes in, bytes out; no gRPC, storage or CLI imports.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .confidence import METHOD, Units, compare, pair_units, semantic_units, unpack_mask
from .errors import FailedPrecondition
from .published import published
from .scoring import score_file_names
from .table import TableError, read_csv

CONFIDENCE_FILE = "score_confidence.csv"
PROVENANCE_FILE = "provenance.json"
COLUMNS = ("task", "set", "metric", "estimate", "ci_low", "ci_high", "n_units", "resamples")
TASK_ORDER = ("lexical", "syntactic", "semantic", "english")


class AnalysisError(FailedPrecondition, ValueError):
    """A score folder that cannot be analysed (missing or malformed file): one sentence for the user. To a
    server it is FAILED_PRECONDITION: two evaluations that cannot be compared (other gold, bad files)."""


def confidence_rows(summaries: list[dict], entry: dict) -> list[dict]:
    """One row per (task, set, metric) the entry publishes, ordered by task, set, then the scorer's order."""
    rank = {t: i for i, t in enumerate(TASK_ORDER)}
    rows = []
    for sm in sorted(summaries, key=lambda s: (rank.get(s["task"], 9), s["set"])):
        for c in sm.get("confidence") or []:
            est = published(entry, c["metric"], sm["set"])
            if est is None:  # the entry does not publish it (e.g. by_pair switched off in params.yaml)
                continue
            rows.append({"task": sm["task"], "set": sm["set"], "metric": c["metric"], "estimate": est,
                         "ci_low": c["ci_low"], "ci_high": c["ci_high"], "n_units": c["n_units"],
                         "resamples": c["resamples"]})
    return rows


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return repr(float(v)) if isinstance(v, float) else str(v)


def confidence_csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([_cell(r[c]) for c in COLUMNS])
    return buf.getvalue().encode()


def provenance(benchmark: str, summaries: list[dict], *, dataset: str, dataset_digest: str,
               submission_digest: str, scorer_version: str, job_id: str) -> dict:
    units = {f"{s['task']}/{s['set']}": {"in_vocab": s["in_vocab"]} for s in summaries if "in_vocab" in s}
    return {"benchmark": benchmark, "dataset": dataset, "dataset_digest": dataset_digest,
            "submission_digest": submission_digest, "scorer_version": scorer_version, "job_id": job_id,
            "confidence": METHOD, "units": units}


def analysis_files(benchmark: str, summaries: list[dict], entry: dict, **prov: str) -> dict[str, bytes]:
    """``score_confidence.csv`` and ``provenance.json`` of one evaluation."""
    return {CONFIDENCE_FILE: confidence_csv(confidence_rows(summaries, entry)),
            PROVENANCE_FILE: (json.dumps(provenance(benchmark, summaries, **prov), indent=1, sort_keys=True)
                              + "\n").encode()}


# ---------------------------------------------------------------------------------------- reading back

@dataclass
class ScoreFolder:
    """A folder written by ``benchmarks:run`` (or a job's files), read for comparison and reports."""

    label: str
    files: dict[str, bytes]
    provenance: dict
    rows: list[dict]

    def row(self, task: str, set_: str, metric: str) -> dict | None:
        return next((r for r in self.rows if (r["task"], r["set"], r["metric"]) == (task, set_, metric)), None)

    def semantic_types(self, set_: str) -> set[str]:
        """The semantic types (synthetic, librispeech) this folder scored on ``set_``."""
        return {r["metric"].split(".")[2] for r in self.rows
                if r["task"] == "semantic" and r["set"] == set_ and r["metric"].count(".") == 2}

    def units(self, task: str, set_: str, types: set[str] | None = None) -> Units | None:
        """Per-unit data of one scored (task, set) from its per-pair score file (None if it is absent).

        ``types`` keeps only those semantic types: a folder scored with ``librispeech: false`` in
        params.yaml still pairs with one scored on both, type by type (rows of a type follow the gold).
        """
        names = score_file_names(task, set_)
        name = names["pairs"] if task == "semantic" else names["by_pair"]
        if name not in self.files:
            return None
        try:
            if task == "semantic":
                t = read_csv(self.files[name], file=name,
                             required=("type", "dataset", "relatedness", "similarity", "score"))
                if types is not None:
                    t = t.take(np.flatnonzero(np.isin(np.asarray(t["type"], dtype=str), sorted(types))))
                where = f"{self.label}/{name}"
                return semantic_units(t["type"], t["dataset"], _floats(t["relatedness"], where, "relatedness"),
                                      _floats(t["similarity"], where, "similarity"),
                                      _floats(t["score"], where, "score"))
            t = read_csv(self.files[name], file=name, required=("score",) + (("type",) if task == "english" else ()))
        except TableError as exc:
            raise AnalysisError(f"{self.label}/{exc}") from None
        score = _floats(t["score"], f"{self.label}/{name}", "score")
        if task == "lexical":
            bits = ((self.provenance.get("units") or {}).get(f"lexical/{set_}") or {}).get("in_vocab")
            in_vocab = unpack_mask(bits, score.size) if bits else None
            return pair_units("lexical", score, in_vocab=in_vocab)
        return pair_units(task, score, types=t["type"] if task == "english" else None)


def _floats(v: np.ndarray, where: str = "", column: str = "") -> np.ndarray:
    """A numeric column; AnalysisError names the file, line and column of the first non-number."""
    if v.dtype.kind in "fiu":
        return v.astype(np.float64)
    out = np.empty(v.size)
    for i, x in enumerate(v.tolist()):  # only for columns that did not parse as numbers: report the culprit
        try:
            out[i] = np.nan if x in (None, "") else float(x)
        except (TypeError, ValueError):
            raise AnalysisError(f"{where}: line {i + 2}: {column} {x!r} is not a number") from None
    return out


def read_confidence(data: bytes, label: str) -> list[dict]:
    """Rows of a ``score_confidence.csv``; AnalysisError names the file and line of a bad row."""
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header[:len(COLUMNS)]) != COLUMNS:
        raise AnalysisError(f"{label}: line 1: expected the header {','.join(COLUMNS)}")
    rows = []
    for lineno, rec in enumerate(reader, start=2):
        if not rec:
            continue
        if len(rec) < len(COLUMNS):
            raise AnalysisError(f"{label}: line {lineno}: expected {len(COLUMNS)} fields, found {len(rec)}")
        r: dict[str, Any] = dict(zip(COLUMNS, rec, strict=False))
        try:
            for k in ("estimate", "ci_low", "ci_high"):
                v = float(r[k]) if r[k] != "" else None
                r[k] = v if v is not None and math.isfinite(v) else None   # "nan", "inf": no value
            for k in ("n_units", "resamples"):
                r[k] = int(r[k])
        except ValueError:
            raise AnalysisError(f"{label}: line {lineno}: expected numbers in estimate, ci_low, ci_high, "
                                "n_units and resamples") from None
        rows.append(r)
    return rows


def load_folder(label: str, files: dict[str, bytes]) -> ScoreFolder:
    """A ScoreFolder from its files; AnalysisError if score_confidence.csv or provenance.json is missing or bad."""
    for name in (CONFIDENCE_FILE, PROVENANCE_FILE):
        if name not in files:
            raise AnalysisError(f"{label} has no {name}: score it again with `zrc benchmarks:run` "
                                "(folders scored before intervals existed lack it)")
    try:
        prov = json.loads(files[PROVENANCE_FILE])
    except ValueError as exc:
        raise AnalysisError(f"{label}/{PROVENANCE_FILE}: not valid JSON ({exc})") from None
    if not isinstance(prov, dict) or not prov.get("dataset_digest"):
        raise AnalysisError(f"{label}/{PROVENANCE_FILE}: expected an object with a dataset_digest")
    return ScoreFolder(label, files, prov, read_confidence(files[CONFIDENCE_FILE], f"{label}/{CONFIDENCE_FILE}"))


def same_gold(a: ScoreFolder, b: ScoreFolder) -> str | None:
    """None if A and B were scored on the same gold, else the sentence that says why they cannot be compared."""
    if a.provenance.get("benchmark") != b.provenance.get("benchmark"):
        return (f"{a.label} is a {a.provenance.get('benchmark')} evaluation and {b.label} a "
                f"{b.provenance.get('benchmark')} one: they cannot be compared")
    if a.provenance["dataset_digest"] != b.provenance["dataset_digest"]:
        return (f"{a.label} and {b.label} were scored on different gold (dataset {a.provenance.get('dataset')} "
                f"{a.provenance['dataset_digest'][:12]} vs {b.provenance.get('dataset')} "
                f"{b.provenance['dataset_digest'][:12]}): their scores are not comparable")
    return None


def _num(v: float) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def comparison_rows(a: ScoreFolder, b: ScoreFolder) -> list[dict]:
    """Every (task, set, metric) both have: published A and B, B - A, paired 95% interval, p-value."""
    why = same_gold(a, b)
    if why:
        raise AnalysisError(why)
    rows: list[dict] = []
    parts = sorted({(r["task"], r["set"]) for r in a.rows}, key=lambda ts: (TASK_ORDER.index(ts[0])
                                                                              if ts[0] in TASK_ORDER else 9, ts[1]))
    for task, set_ in parts:
        shared = [r for r in a.rows if (r["task"], r["set"]) == (task, set_)
                  and b.row(task, set_, r["metric"]) is not None]
        if not shared:
            continue
        types = a.semantic_types(set_) & b.semantic_types(set_) if task == "semantic" else None
        ua, ub = a.units(task, set_, types), b.units(task, set_, types)
        if ua is not None and ub is not None and ua.n != ub.n:
            raise AnalysisError(f"{a.label} and {b.label} cannot be paired: {task} {set_} has {ua.n} units in A "
                                f"but {ub.n} in B (not scored on the same gold or selection)")
        stats = {} if ua is None or ub is None else {c.metric: c for c in compare(ua, ub, set_)}
        for r in shared:
            va, vb = r["estimate"], (b.row(task, set_, r["metric"]) or {})["estimate"]   # shared: never None
            c = stats.get(r["metric"])
            rows.append({"task": task, "set": set_, "metric": r["metric"], "a": va, "b": vb,
                         "diff": None if va is None or vb is None else vb - va,
                         "ci_low": _num(c.ci_low) if c else None, "ci_high": _num(c.ci_high) if c else None,
                         "p_value": _num(c.p_value) if c else None})
    return rows
