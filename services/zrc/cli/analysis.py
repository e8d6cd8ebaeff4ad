"""``zrc compare A B``: is B's difference from A real? Paired bootstrap interval and permutation p-value.

A and B are score folders written by ``benchmarks:run`` (or the submission folders holding them in
``scores/``), or job / leaderboard entry ids (two ids are compared on the server, a folder and a job id
here from the job's files). The statistics are :mod:`zrc.core.confidence` via
:func:`zrc.core.analysis.comparison_rows`; this module finds the files and prints. Also the leaderboard's
interval helpers (``±`` cells, neighbours not significantly different, ``--csv --intervals``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from zrc.core.published import published
from zrc.lazy import lazy_module

from . import output

if TYPE_CHECKING:
    from zrc.core import analysis as core
    from zrc.core.analysis import ScoreFolder
else:   # numpy: loaded by compare, not by the leaderboard's interval cells
    core = lazy_module("zrc.core.analysis")


def score_files(path: Path) -> dict[str, bytes]:
    """The files of a score folder (or of ``path/scores`` when ``path`` is a submission folder)."""
    if not (path / core.CONFIDENCE_FILE).is_file() and (path / "scores" / core.CONFIDENCE_FILE).is_file():
        path = path / "scores"
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())
            if p.is_file() and (p.suffix == ".csv" or p.name == core.PROVENANCE_FILE)}


def resolve(arg: str, fetch_job) -> ScoreFolder:
    """A folder on disk, else a job id whose files ``fetch_job(job_id)`` returns."""
    p = Path(arg)
    if p.is_dir():
        return core.load_folder(arg, score_files(p))
    if p.exists():
        raise core.AnalysisError(f"{arg} is a file; give a score folder (written by `zrc benchmarks:run`) or a job id")
    return core.load_folder(f"job {arg}", fetch_job(arg))


def _fmt(v: float | None, digits: int) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _p(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:.3f}" + (" *" if v < 0.05 else "")


def format_rows(a: str, b: str, rows: list[dict]) -> str:
    """A plain fixed-width table (copy-pastable, never truncated)."""
    head = ["set", "metric", "A", "B", "B - A", "95% CI of B - A", "p"]
    body = []
    for r in rows:
        d = 2 if r["task"] == "semantic" else 4   # correlations x100, accuracies in [0, 1]
        body.append([r["set"], r["metric"], _fmt(r["a"], d), _fmt(r["b"], d), _fmt(r["diff"], d),
                     "" if r["ci_low"] is None else f"[{r['ci_low']:.{d}f}, {r['ci_high']:.{d}f}]",
                     _p(r["p_value"])])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=False)]
    left = {0, 1}
    lines = [f"A = {a}   B = {b}"]
    for i, rec in enumerate([head, *body]):
        lines.append("  ".join(str(x).ljust(w) if j in left else str(x).rjust(w)
                               for j, (x, w) in enumerate(zip(rec, widths, strict=True))).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def print_rows(a: str, b: str, rows: list[dict]) -> None:
    output.say(format_rows(a, b, rows).rstrip("\n"))
    output.note("interval: paired bootstrap over the shared units; p: paired approximate randomisation, two-sided; "
                "* p < 0.05. With many metrics compared at once, about 1 in 20 reaches p < 0.05 by chance.")


def job_files(job_id: str) -> dict[str, bytes]:
    """The score files of a finished job of the caller's (for compare/report given a job id)."""
    from .main import UsageError, session  # here: main imports this module

    try:
        with session(scoring=False) as client:
            return {f.name: f.content for f in client.get_scores(job_id).files}
    except UsageError as exc:
        raise UsageError(f"{job_id} is neither a score folder nor a finished job: {exc}") from None


def cmd_compare(a) -> int:
    """``zrc compare A B [--json]``."""
    from .main import UsageError, session  # here: main imports this module

    if not Path(a.a).exists() and not Path(a.b).exists():
        # two jobs or leaderboard entries: compared where the per-item scores are (the server's own users'
        # entries included: only the statistics come back)
        with session(scoring=False) as client:
            rows = client.compare_scores(a.a, a.b)
        labels = (f"job/entry {a.a}", f"job/entry {a.b}")
    else:
        try:
            fa, fb = resolve(a.a, job_files), resolve(a.b, job_files)
            rows = core.comparison_rows(fa, fb)
        except core.AnalysisError as exc:  # different gold, unreadable files: exit 2 with its sentence
            raise UsageError(str(exc)) from None
        labels = (fa.label, fb.label)
    if a.json:
        output.print_json(rows)
    else:
        print_rows(*labels, rows)
    return 0


# ------------------------------------------------------------------------------------------ leaderboard

HEADLINE = {
    "sLM21": (("lexical", "lexical.all"), ("lexical_in_vocab", "lexical.in_vocab"), ("syntactic", "syntactic"),
              ("semantic_synth", "semantic.normal.synthetic"), ("semantic_libri", "semantic.normal.librispeech"),
              ("semantic_w_synth", "semantic.weighted.synthetic"),
              ("semantic_w_libri", "semantic.weighted.librispeech")),
    "prosAudit": (("lexical", "lexical"), ("protosyntax", "protosyntax")),
}
Z95 = 1.959963984540054


def entry_interval(entry: dict, metric: str, set_: str = "test") -> tuple[float, float] | None:
    """The 95% interval a published entry carries for ``metric`` (None for entries published before intervals)."""
    for r in (entry.get("zrc") or {}).get("intervals") or []:
        if r.get("metric") == metric and r.get("set") == set_ and r.get("ci_low") is not None \
                and r.get("ci_high") is not None:
            return float(r["ci_low"]), float(r["ci_high"])
    return None


def half_width(entry: dict, metric: str, set_: str = "test") -> float | None:
    iv = entry_interval(entry, metric, set_)
    return None if iv is None else (iv[1] - iv[0]) / 2


def indistinct_neighbours(benchmark: str, entries: list[dict], set_: str = "test") -> list[str]:
    """Per headline metric, the rank neighbours whose difference is not significant (two-sided 5%).

    Entries hold only their own intervals, so this is an *unpaired* z-test with standard errors read off
    the 95% intervals: conservative (two systems scored on the same items are positively correlated), so
    "not significantly different" here may still be significant in ``zrc compare`` on the two jobs.
    """
    lines = []
    for _col, metric in HEADLINE.get(benchmark, ()):
        if benchmark == "sLM21" and metric.startswith("semantic.normal"):
            continue   # the table shows the weighted correlations
        ranked = []
        for i, e in enumerate(entries, 1):
            v, iv = published(e, metric, set_), entry_interval(e, metric, set_)
            if v is not None and iv is not None:
                ranked.append((float(v), i, (iv[1] - iv[0]) / (2 * Z95)))
        ranked.sort(key=lambda t: -t[0])
        ties = [f"#{a[1]} ≈ #{b[1]}" for a, b in zip(ranked, ranked[1:], strict=False)
                if abs(a[0] - b[0]) < Z95 * math.hypot(a[2], b[2])]
        if ties:
            lines.append(f"{metric}: {', '.join(ties)}")
    return lines


def csv_with_intervals(benchmark: str, entries: list[dict], base: str) -> str:
    """The reference-layout CSV with ``<column>_ci_low,<column>_ci_high`` appended (rows: entries x dev, test)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(base)))
    cols = HEADLINE.get(benchmark, ())
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(rows[0] + [f"{c}_ci_{k}" for c, _ in cols for k in ("low", "high")])
    body = iter(rows[1:])
    for e in entries:
        for set_ in ("dev", "test"):
            extra = []
            for _c, metric in cols:
                iv = entry_interval(e, metric, set_)
                extra += ["", ""] if iv is None else [repr(iv[0]), repr(iv[1])]
            w.writerow(next(body) + extra)
    return out.getvalue()
