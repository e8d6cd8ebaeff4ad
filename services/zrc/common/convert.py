"""The one place where stored records (dicts, as kept in object storage) become typed wire messages and back.

What is stored keeps its format (job records, results and entries written by earlier versions stay readable);
only the wire is typed. Every conversion here round-trips: ``x_py(x_pb(d)) == d`` for what the core produces,
so score files, entries and CLI output do not change by crossing a process boundary. Timestamps travel as
google.protobuf.Timestamp and come back in the text form the record had (see ``MS``/``SECONDS_Z``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
from dataclasses import asdict
from typing import Any, cast

from google.protobuf import struct_pb2, timestamp_pb2

from zrc.core.jobs import Job
from zrc.core.params import LexicalParams, Params, SemanticParams
from zrc.pb.common.v1 import common_pb2
from zrc.pb.results.v1 import results_pb2

# ---------------------------------------------------------------- timestamps

MS = "milliseconds"        # jobs.now(): 2026-01-02T03:04:05.678+00:00 (jobs, events, users, tokens' creation)
SECONDS_Z = "seconds_z"    # auth stamps: 2026-01-02T03:04:05Z (token expiry, quota reset)


def stamp_pb(text: str | None) -> timestamp_pb2.Timestamp | None:
    """An ISO-8601 text as a Timestamp; None for "" (no time, e.g. a token that never expires)."""
    if not text:
        return None
    t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(t.astimezone(_dt.UTC) if t.tzinfo else t.replace(tzinfo=_dt.UTC))
    return ts


def stamps(d: dict, *fields: str) -> dict:
    """A record's ``fields`` as Timestamps (unset for ""), to build a message with ``Message(**...)``."""
    return {**d, **{f: stamp_pb(d.get(f)) for f in fields}}


def stamp_text(msg, field: str, style: str = MS) -> str:
    """``msg.<field>`` (a Timestamp) in the text form its record uses; "" when unset."""
    if not msg.HasField(field):
        return ""
    t = getattr(msg, field).ToDatetime(tzinfo=_dt.UTC)
    if style == SECONDS_Z:
        return t.isoformat(timespec="seconds").replace("+00:00", "Z")
    return t.isoformat(timespec=style)


def _epoch_pb(seconds: float) -> timestamp_pb2.Timestamp | None:
    """Epoch seconds (a lease's expiry) to the microsecond: a float holds no more, and the trip is exact."""
    if not seconds:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromMicroseconds(round(seconds * 1e6))
    return ts


def _epoch_py(msg, field: str) -> float:
    return getattr(msg, field).ToMicroseconds() / 1e6 if msg.HasField(field) else 0.0


# ---------------------------------------------------------------- meta.yaml: values as written

_INT64 = range(-(2 ** 63), 2 ** 63)


def value_pb(v: Any) -> common_pb2.Value:
    if v is None:
        return common_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(v, bool):
        return common_pb2.Value(bool_value=v)
    if isinstance(v, int) and v in _INT64:
        return common_pb2.Value(int_value=v)
    if isinstance(v, int | float):
        return common_pb2.Value(double_value=float(v))
    if isinstance(v, dict):
        return common_pb2.Value(map_value=_map_pb(v))
    if isinstance(v, list | tuple):
        return common_pb2.Value(list_value=common_pb2.ValueList(values=[value_pb(x) for x in v]))
    return common_pb2.Value(string_value=str(v))


def _key(k: Any) -> str:
    """A YAML key as JSON names it (``true``, ``null``, ``1``), as the records written as JSON have it."""
    return k if isinstance(k, str) else json.dumps(k) if isinstance(k, bool | int | float | None) else str(k)


def _map_pb(d: dict) -> common_pb2.ValueMap:
    return common_pb2.ValueMap(entries=[common_pb2.ValueMapEntry(key=_key(k), value=value_pb(x)) for k, x in d.items()])


def value_py(v: common_pb2.Value) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "map_value":
        return {e.key: value_py(e.value) for e in v.map_value.entries}
    if kind == "list_value":
        return [value_py(x) for x in v.list_value.values]
    return None if kind in (None, "null_value") else getattr(v, kind)


def meta_pb(meta: dict | None) -> common_pb2.SubmissionMeta | None:
    """meta.yaml as parsed (zrc.core.meta.load_meta), None when absent or unreadable."""
    return None if meta is None else common_pb2.SubmissionMeta(document=_map_pb(meta))


def meta_py(msg, field: str = "meta") -> dict | None:
    return value_py(common_pb2.Value(map_value=getattr(msg, field).document)) if msg.HasField(field) else None


# ---------------------------------------------------------------- params.yaml

def params_pb(p: Params) -> common_pb2.SubmissionParams:
    return common_pb2.SubmissionParams(**asdict(p))   # the message's fields are the dataclasses' names


def params_py(m: common_pb2.SubmissionParams) -> Params:
    def fields(msg, cls):
        return {f: getattr(msg, f) for f in cls.__dataclass_fields__}
    return Params(**{**fields(m, Params), "semantic": SemanticParams(**fields(m.semantic, SemanticParams)),
                     "lexical": LexicalParams(**fields(m.lexical, LexicalParams))})


# ---------------------------------------------------------------- per-part score summaries

_TABLES = ("by_frequency", "by_length", "by_type", "correlation")
_FLOAT_COLUMNS = ("score", "std", "correlation")


def _nan(v: float | None) -> float:
    return math.nan if v is None else v


def _column_pb(name: str, values: list) -> common_pb2.ScoreColumn:
    """A summary column (JSON-safe: None for NaN) by the same typing rules as zrc.core.leaderboard._json_table."""
    if name == "n" or (name not in _FLOAT_COLUMNS and values and all(
            isinstance(v, int) and not isinstance(v, bool) for v in values)):
        return common_pb2.ScoreColumn(name=name, ints=common_pb2.IntColumn(values=values))
    if name in _FLOAT_COLUMNS or any(v is None or isinstance(v, float) for v in values):
        return common_pb2.ScoreColumn(name=name, doubles=common_pb2.DoubleColumn(values=[_nan(v) for v in values]))
    return common_pb2.ScoreColumn(name=name, strings=common_pb2.StringColumn(values=values))


def _column_py(c: common_pb2.ScoreColumn) -> list:
    kind = c.WhichOneof("values")
    if kind == "doubles":
        return [v if math.isfinite(v) else None for v in c.doubles.values]
    return list(getattr(c, kind).values) if kind else []


def summary_pb(d: dict) -> common_pb2.ScoreSummary:
    """A summary as zrc.core.leaderboard.summarize returns it (or as a stored result holds it)."""
    m = common_pb2.ScoreSummary(task=d["task"], set=d["set"], has_all="all" in d, has_sizes="sizes" in d,
                                has_confidence="confidence" in d)
    if d.get("all") is not None:
        m.all = d["all"]
    for kind in _TABLES:
        if kind in d:
            getattr(m, kind).SetInParent()
            getattr(m, kind).columns.extend(_column_pb(k, v) for k, v in d[kind].items())
    m.sizes.update(d.get("sizes") or {})
    for c in d.get("confidence") or []:
        iv = m.confidence.add(metric=c["metric"], n_units=c["n_units"], resamples=c["resamples"])
        for k in ("estimate", "ci_low", "ci_high"):
            if c.get(k) is not None:
                setattr(iv, k, c[k])
    if "in_vocab" in d:
        m.in_vocab = base64.b64decode(d["in_vocab"])
    return m


def summary_py(m: common_pb2.ScoreSummary) -> dict:
    out: dict[str, Any] = {"task": m.task, "set": m.set}
    if m.has_all:
        out["all"] = m.all if m.HasField("all") else None
    for kind in _TABLES:
        if m.HasField(kind):
            out[kind] = {c.name: _column_py(c) for c in getattr(m, kind).columns}
    if m.has_sizes:
        out["sizes"] = dict(sorted(m.sizes.items()))
    if m.has_confidence:
        out["confidence"] = [{"metric": c.metric, **{k: getattr(c, k) if c.HasField(k) else None
                                                     for k in ("estimate", "ci_low", "ci_high")},
                              "n_units": c.n_units, "resamples": c.resamples} for c in m.confidence]
    if m.HasField("in_vocab"):
        out["in_vocab"] = base64.b64encode(m.in_vocab).decode()
    return out


# ---------------------------------------------------------------- job records

_STATE = results_pb2.JobRecordState


def _state_pb(state: str) -> results_pb2.JobRecordState:
    # the generated stub types Value() as int, the message fields as the enum
    return cast("results_pb2.JobRecordState", _STATE.Value(f"JOB_RECORD_STATE_{state}"))


def _state_py(value: int) -> str:
    return _STATE.Name(value).removeprefix("JOB_RECORD_STATE_")


def job_pb(d: dict) -> results_pb2.JobRecord:
    """A job record (zrc.core.jobs.Job.to_dict(), or a stored one: fields it lacks get the defaults)."""
    from zrc.common.data import finding_to_pb, selection_from_dict
    j = Job.from_dict(d)
    m = results_pb2.JobRecord(
        job_id=j.job_id, selection=selection_from_dict(j.selection), skip_validation=j.skip_validation,
        owner=j.owner, publish=j.publish, baseline=j.baseline, model_id=j.model_id,
        replaces_entry=j.replaces_entry, state=_state_pb(j.state), findings=[finding_to_pb(f) for f in j.findings],
        failure_reason=j.failure_reason, parts=[results_pb2.JobPart(task=t, set=s) for t, s in j.parts],
        done=[results_pb2.JobPart(task=p.split(" ", 1)[0], set=p.split(" ", 1)[-1], result_key=k)
              for p, k in j.done.items()], dataset_digest=j.dataset_digest, lease_owner=j.lease_owner,
        lease_expires=_epoch_pb(j.lease_expires), attempts=j.attempts, revision=j.revision, starts=j.starts,
        pooled_refs=j.pooled_refs,
        created_at=stamp_pb(j.created_at), updated_at=stamp_pb(j.updated_at),
        events=[results_pb2.JobRecordEvent(seq=e["seq"], state=_state_pb(e["state"]), message=e["message"],
                                           task=e.get("task", ""), set=e.get("set", ""), at=stamp_pb(e["at"]))
                for e in j.events])
    if j.params_json:
        m.params.CopyFrom(params_pb(Params.from_json(j.params_json)))
    meta = meta_pb(json.loads(j.meta_json or "null"))
    if meta is not None:
        m.meta.CopyFrom(meta)
    for k in ("findings_count", "events_count"):
        if k in d:
            setattr(m, k, d[k])
    return m


def job_py(m: results_pb2.JobRecord) -> dict:
    """The record as zrc.core.jobs.Job.to_dict() has it (plus findings_count/events_count on summaries)."""
    from zrc.common.data import finding_from_pb, selection_to_dict
    j = Job(job_id=m.job_id, selection=selection_to_dict(m.selection), skip_validation=m.skip_validation,
            owner=m.owner, publish=m.publish, baseline=m.baseline, model_id=m.model_id,
            replaces_entry=m.replaces_entry, state=_state_py(m.state),
            findings=[finding_from_pb(f) for f in m.findings], failure_reason=m.failure_reason,
            parts=[[p.task, p.set] for p in m.parts], done={f"{p.task} {p.set}": p.result_key for p in m.done},
            events=[{"seq": e.seq, "state": _state_py(e.state), "message": e.message, "task": e.task,
                     "set": e.set, "at": stamp_text(e, "at")} for e in m.events],
            params_json=params_py(m.params).to_json() if m.HasField("params") else "",
            meta_json=json.dumps(meta_py(m)), dataset_digest=m.dataset_digest, lease_owner=m.lease_owner,
            lease_expires=_epoch_py(m, "lease_expires"), attempts=m.attempts, revision=m.revision,
            starts=dict(sorted(m.starts.items())), pooled_refs=dict(sorted(m.pooled_refs.items())),
            created_at=stamp_text(m, "created_at"), updated_at=stamp_text(m, "updated_at"))
    d = j.to_dict()
    for k in ("findings_count", "events_count"):
        if m.HasField(k):
            d[k] = getattr(m, k)
    return d


# ---------------------------------------------------------------- leaderboard entries

_PUBLICATION = ("author_short", "authors", "paper_title", "paper_ref", "bib_ref", "paper_url", "pub_year",
                "team_name", "institution", "code", "DOI")
_SET_STATS = ("score", "std", "n")          # extras rows: dev_score, dev_std, dev_n, ...
_PROSAUDIT_STATS = ("score", "n", "std")    # ProsAudit scores, in the reference's order
_SEM_PUBLISHED = ("metric", "pooling", "synthetic", "librispeech", "n_jobs")


def _set_opt(m, field: str, v) -> None:
    if v is not None:
        setattr(m, field, v)


def _get_opt(m, field: str):
    return getattr(m, field) if m.HasField(field) else None


def _dev_test(m, d: dict | None) -> None:
    m.SetInParent()
    for s in ("dev", "test"):
        _set_opt(m, s, (d or {}).get(s))


def _dev_test_py(m) -> dict:
    return {s: _get_opt(m, s) for s in ("dev", "test")}


def _rows_pb(rows, key: str) -> list:
    return [common_pb2.ExtrasRow(key=value_pb(r.get(key)), **{f"{s}_{m}": r[f"{s}_{m}"] for s in ("dev", "test")
                                                              for m in _SET_STATS if r.get(f"{s}_{m}") is not None})
            for r in rows or []]


def _rows_py(rows, key: str) -> list[dict]:
    return [{key: value_py(r.key), **{f"{s}_{m}": _get_opt(r, f"{s}_{m}") for s in ("dev", "test") for m in _SET_STATS}}
            for r in rows]


def entry_pb(d: dict) -> common_pb2.LeaderboardEntry:
    """An entry as zrc.core.leaderboard builds it (or as stored; keys it lacks stay unset)."""
    m = common_pb2.LeaderboardEntry(submission_id=d.get("submission_id") or "",
                                    submission_date=stamp_pb(d.get("submission_date")))
    for k in ("model_id", "submitted_by", "description"):
        getattr(m, k).CopyFrom(value_pb(d.get(k)))
    _set_opt(m, "index", d.get("index"))
    pub = d.get("publication") or {}
    for k in _PUBLICATION:
        getattr(m.publication, k.lower()).CopyFrom(value_pb(pub.get(k)))
    m.publication.open_science = bool(pub.get("open_science"))
    det = d.get("details") or {}
    m.details.train_set.CopyFrom(value_pb(det.get("train_set")))
    m.details.benchmarks.extend(det.get("benchmarks") or [])
    _set_opt(m.details, "gpu_budget", det.get("gpu_budget"))
    par = det.get("parameters") or {}
    m.details.parameters.SetInParent()
    _set_opt(m.details.parameters, "quiet", par.get("quiet"))
    if "semantic" in par:
        m.details.parameters.semantic.CopyFrom(common_pb2.SemanticParams(**par["semantic"]))
    sc = d.get("scores") or {}
    if "protosyntax" in sc:
        for t in ("protosyntax", "lexical"):
            for s in ("dev", "test"):
                rec = getattr(getattr(m.prosaudit_scores, t), s)
                rec.SetInParent()
                for k in _PROSAUDIT_STATS:
                    _set_opt(rec, k, ((sc.get(t) or {}).get(s) or {}).get(k))
    else:
        lex, sem = sc.get("lexical") or {}, sc.get("semantic") or {}
        _dev_test(m.slm21_scores.lexical.in_vocab, lex.get("in_vocab"))
        _dev_test(m.slm21_scores.lexical.all, lex.get("all"))
        _dev_test(m.slm21_scores.syntactic, sc.get("syntactic"))
        for kind in ("normal", "weighted"):
            for t in ("synthetic", "librispeech"):
                _dev_test(getattr(getattr(m.slm21_scores.semantic, kind), t), (sem.get(kind) or {}).get(t))
    ex = d.get("extras")
    if isinstance(ex, dict):
        lex = ex.get("lexical") or {}
        m.slm21_extras.SetInParent()
        m.slm21_extras.lexical.by_length.extend(_rows_pb(lex.get("by_length"), "length"))
        m.slm21_extras.lexical.by_frequency.extend(_rows_pb(lex.get("by_frequency"), "frequency"))
        m.slm21_extras.syntactic.extend(_rows_pb(ex.get("syntactic"), "typeset"))
        m.slm21_extras.semantic.extend(
            common_pb2.SemanticExtra(set=r["set"], dataset=r["dataset"],
                                     **{t: r[t] for t in ("librispeech", "synthetic") if r.get(t) is not None})
            for r in ex.get("semantic") or [])
    z = d.get("zrc")
    if z is not None:
        m.zrc.CopyFrom(common_pb2.PublishedEntry(
            entry_id=z.get("entry_id") or "", job_id=z.get("job_id") or "", owner=z.get("owner") or "",
            baseline=bool(z.get("baseline")), scorer_version=z.get("scorer_version") or "",
            submission_digest=z.get("submission_digest") or "", dataset=z.get("dataset") or "",
            published_at=stamp_pb(z.get("published_at")),
            intervals=[common_pb2.PublishedInterval(
                task=r["task"], set=r["set"], metric=r["metric"], n_units=r["n_units"], resamples=r["resamples"],
                **{k: r[k] for k in ("estimate", "ci_low", "ci_high") if r.get(k) is not None})
                for r in z.get("intervals") or []]))
    return m


def entry_py(m: common_pb2.LeaderboardEntry) -> dict:
    """The entry as zrc.core.leaderboard builds it, key for key: leaderboard.json files stay byte-identical."""
    d: dict[str, Any] = {"model_id": value_py(m.model_id), "submission_id": m.submission_id,
                         "index": _get_opt(m, "index"),
                         "submission_date": m.submission_date.ToDatetime(tzinfo=_dt.UTC).isoformat()
                         if m.HasField("submission_date") else None,
                         "submitted_by": value_py(m.submitted_by), "description": value_py(m.description)}
    pub = {k: value_py(getattr(m.publication, k.lower())) for k in _PUBLICATION}
    pub["open_science"] = m.publication.open_science
    d["publication"] = pub
    det, par = m.details, m.details.parameters
    params: dict[str, Any] = {"quiet": par.quiet} if par.HasField("quiet") else {}
    if par.HasField("semantic"):
        params["semantic"] = {k: getattr(par.semantic, k) for k in _SEM_PUBLISHED}
    d["details"] = {"train_set": value_py(det.train_set), "benchmarks": list(det.benchmarks),
                    "gpu_budget": _get_opt(det, "gpu_budget"), "parameters": params}
    if m.HasField("prosaudit_scores"):
        d["scores"] = {t: {s: {k: _get_opt(getattr(getattr(m.prosaudit_scores, t), s), k) for k in _PROSAUDIT_STATS}
                           for s in ("dev", "test")} for t in ("protosyntax", "lexical")}
    else:
        sc = m.slm21_scores
        d["scores"] = {
            "lexical": {"in_vocab": _dev_test_py(sc.lexical.in_vocab), "all": _dev_test_py(sc.lexical.all)},
            "syntactic": _dev_test_py(sc.syntactic),
            "semantic": {kind: {t: _dev_test_py(getattr(getattr(sc.semantic, kind), t))
                                for t in ("synthetic", "librispeech")} for kind in ("normal", "weighted")},
        }
    ex = m.slm21_extras
    d["extras"] = {
        "lexical": {"by_length": _rows_py(ex.lexical.by_length, "length"),
                    "by_frequency": _rows_py(ex.lexical.by_frequency, "frequency")},
        "syntactic": _rows_py(ex.syntactic, "typeset"),
        "semantic": [{"set": r.set, "dataset": r.dataset, "librispeech": _get_opt(r, "librispeech"),
                      "synthetic": _get_opt(r, "synthetic")} for r in ex.semantic],
    } if m.HasField("slm21_extras") else None
    if m.HasField("zrc"):
        z = m.zrc
        d["zrc"] = {"entry_id": z.entry_id, "job_id": z.job_id, "owner": z.owner, "baseline": z.baseline,
                    "scorer_version": z.scorer_version, "submission_digest": z.submission_digest,
                    "dataset": z.dataset, "published_at": stamp_text(z, "published_at"),
                    "intervals": [{"task": r.task, "set": r.set, "metric": r.metric,
                                   **{k: _get_opt(r, k) for k in ("estimate", "ci_low", "ci_high")},
                                   "n_units": r.n_units, "resamples": r.resamples} for r in z.intervals]}
    return d
