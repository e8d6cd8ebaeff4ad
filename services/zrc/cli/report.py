"""``zrc report SCORES``: one self-contained HTML page (or Markdown) of the scores with their intervals.

What a paper shows: the headline scores with 95% bootstrap intervals; lexical accuracy by frequency band
and by word length; syntactic accuracy by type; semantic correlation per dataset; ProsAudit by type; and,
given ``--compare B``, the paired comparison. Plots are plain inline SVG (no plotting library, no external
asset, works offline); every text is HTML-escaped.

Breakdown rows (bands, lengths, types) are means of independent units with their ``n`` and ``std`` in the
reference's files: their intervals are the normal approximation ``score +- 1.96 std / sqrt(n)`` (no
interval below 2 units). Headline and per-dataset intervals come from ``score_confidence.csv``.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import numpy as np

from zrc.core.analysis import AnalysisError, ScoreFolder, comparison_rows
from zrc.core.table import TableError, read_csv

from . import output
from .analysis import job_files, resolve

Z95 = 1.959963984540054
Row = tuple[str, float | None, float | None, float | None, str]   # label, estimate, low, high, note


def _esc(v: object) -> str:
    return html.escape(str(v), quote=True)


def _f(v: float | None, digits: int) -> str:
    return "" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _table_rows(folder: ScoreFolder, name: str, key: str) -> list[Row]:
    """(label, score, normal-approximation interval, n) per row of a by_frequency/by_length/by_type file."""
    data = folder.files.get(name)
    if data is None:
        return []
    try:
        t = read_csv(data, file=name, required=(key, "n", "score", "std"))
    except TableError as exc:
        output.warn(f"{folder.label}/{exc}; this panel is left out of the report")
        return []
    out: list[Row] = []
    for line, (label, n, score, std) in enumerate(zip(t[key], t["n"], t["score"], t["std"], strict=True), 2):
        try:
            n, score = int(n), float(score)
            std = float(std) if std not in (None, "") else float("nan")
        except (TypeError, ValueError):
            output.warn(f"{folder.label}/{name}: line {line}: expected numbers in n, score and std; row left out")
            continue
        half = Z95 * std / math.sqrt(n) if n >= 2 and math.isfinite(std) else float("nan")
        lo, hi = (score - half, score + half) if math.isfinite(half) else (None, None)
        out.append((str(label), score, lo, hi, f"n={n}"))
    return out


def _confidence(folder: ScoreFolder, task: str, set_: str, pred) -> list[Row]:
    return [(r["metric"], r["estimate"], r["ci_low"], r["ci_high"], f"n={r['n_units']}")
            for r in folder.rows if r["task"] == task and r["set"] == set_ and pred(r["metric"])]


def _is_dataset_corr(metric: str) -> bool:
    parts = metric.split(".")
    return len(parts) == 3 and parts[0] == "semantic" and parts[1] not in ("normal", "weighted")


def sections(folder: ScoreFolder) -> list[tuple[str, str, list[Row], tuple[float, float]]]:
    """(title, unit, rows, axis range) of every panel the folder has data for, in reading order."""
    out = []
    sets = sorted({r["set"] for r in folder.rows})
    bench = folder.provenance.get("benchmark", "")
    for s in sets:
        head = [r for r in folder.rows if r["set"] == s and not _is_dataset_corr(r["metric"])]
        acc = [(r["metric"], r["estimate"], r["ci_low"], r["ci_high"], f"n={r['n_units']}")
               for r in head if r["task"] != "semantic"]
        if acc:
            title = "ProsAudit accuracy by type" if bench == "prosAudit" else "headline scores"
            out.append((f"{s}: {title}", "accuracy", acc, (0.0, 1.0)))
        sem = [(r["metric"], r["estimate"], r["ci_low"], r["ci_high"], f"n={r['n_units']}")
               for r in head if r["task"] == "semantic"]
        if sem:
            out.append((f"{s}: semantic (100 x Spearman)", "correlation", sem, (-100.0, 100.0)))
        if bench != "prosAudit":
            for kind, key in (("frequency", "frequency"), ("length", "length")):
                rows = _table_rows(folder, f"score_lexical_{s}_by_{kind}.csv", key)
                if rows:
                    out.append((f"{s}: lexical accuracy by {'frequency band' if kind == 'frequency' else 'word length'}",
                                "accuracy", rows, (0.0, 1.0)))
            rows = _table_rows(folder, f"score_syntactic_{s}_by_type.csv", "type")
            if rows:
                out.append((f"{s}: syntactic accuracy by type", "accuracy", rows, (0.0, 1.0)))
            rows = _confidence(folder, "semantic", s, _is_dataset_corr)
            if rows:
                out.append((f"{s}: semantic correlation per dataset", "correlation", rows, (-100.0, 100.0)))
    return out


def forest_svg(rows: list[Row], lo: float, hi: float, ref: float | None = None) -> str:
    """Inline SVG: one line per row, a dot at the estimate and a bar for its interval."""
    label_w, plot_w, value_w, row_h = 250, 360, 240, 22
    width, height = label_w + plot_w + value_w, row_h * len(rows) + 30

    def x(v: float) -> float:
        return label_w + (min(max(v, lo), hi) - lo) / (hi - lo) * plot_w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'font-family="sans-serif" font-size="12">']
    for tick in np.linspace(lo, hi, 5):
        parts.append(f'<line x1="{x(tick):.1f}" y1="5" x2="{x(tick):.1f}" y2="{height - 20}" stroke="#ddd"/>'
                     f'<text x="{x(tick):.1f}" y="{height - 6}" text-anchor="middle" fill="#666">{tick:g}</text>')
    if ref is not None:
        parts.append(f'<line x1="{x(ref):.1f}" y1="5" x2="{x(ref):.1f}" y2="{height - 20}" stroke="#999" '
                     'stroke-dasharray="4 3"/>')
    digits = 2 if hi - lo > 10 else 4
    for i, (label, est, a, b, note) in enumerate(rows):
        y = 15 + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 4}" text-anchor="end">{_esc(label)}</text>')
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
            parts.append(f'<line x1="{x(a):.1f}" y1="{y}" x2="{x(b):.1f}" y2="{y}" stroke="#3465a4" '
                         'stroke-width="3"/>')
        if est is not None and math.isfinite(est):
            parts.append(f'<circle cx="{x(est):.1f}" cy="{y}" r="4" fill="#204a87"/>')
        ci = f" [{_f(a, digits)}, {_f(b, digits)}]" if a is not None and b is not None else ""
        parts.append(f'<text x="{label_w + plot_w + 8}" y="{y + 4}">{_esc(_f(est, digits) + ci + "  " + note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


_CSS = """body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
td:first-child,th:first-child,td:nth-child(2){text-align:left}.meta td{text-align:left}
h2{margin-top:1.6em;font-size:1.15em}.note{color:#555;font-size:.9em}.sig{font-weight:bold}"""


def _meta_rows(folder: ScoreFolder) -> list[tuple[str, str]]:
    p = folder.provenance
    m = p.get("confidence") or {}
    return [("scores", folder.label), ("benchmark", p.get("benchmark", "")),
            ("dataset", f"{p.get('dataset', '')} ({str(p.get('dataset_digest', ''))[:16]})"),
            ("submission", str(p.get("submission_digest", ""))[:16]), ("scorer version", p.get("scorer_version", "")),
            ("intervals", f"{m.get('interval', '')}, {m.get('level', '')} level, {m.get('resamples', '')} "
                          f"resamples, seed {m.get('seed', '')}")]


def render_html(folder: ScoreFolder, comparison: list[dict] | None = None, other: ScoreFolder | None = None) -> str:
    bench = folder.provenance.get("benchmark", "")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{_esc(bench)} scores: {_esc(folder.label)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{_esc(bench)} scores with 95% intervals</h1>", '<table class="meta">']
    out += [f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in _meta_rows(folder)]
    out.append("</table>")
    out.append('<p class="note">Dots: published scores; bars: 95% intervals (headline and per-dataset: '
               "percentile bootstrap over the independent units; breakdowns: normal approximation from n and "
               "std). Overlapping bars do not prove two systems equal: use the paired comparison.</p>")
    for title, _unit, rows, (lo, hi) in sections(folder):
        out.append(f"<h2>{_esc(title)}</h2>")
        out.append(forest_svg(rows, lo, hi, ref=0.5 if hi == 1.0 else 0.0))
    if comparison is not None and other is not None:
        out.append(f"<h2>Comparison: B - A (A = {_esc(folder.label)}, B = {_esc(other.label)})</h2>")
        out.append("<table><tr><th>set</th><th>metric</th><th>A</th><th>B</th><th>B - A</th>"
                   "<th>95% CI of B - A</th><th>p</th></tr>")
        for r in comparison:
            d = 2 if r["task"] == "semantic" else 4
            cls = ' class="sig"' if r["p_value"] is not None and r["p_value"] < 0.05 else ""
            ci = f"[{_f(r['ci_low'], d)}, {_f(r['ci_high'], d)}]" if r["ci_low"] is not None else ""
            out.append(f"<tr{cls}><td>{_esc(r['set'])}</td><td>{_esc(r['metric'])}</td>"
                       f"<td>{_f(r['a'], d)}</td><td>{_f(r['b'], d)}</td><td>{_f(r['diff'], d)}</td>"
                       f"<td>{_esc(ci)}</td><td>{_f(r['p_value'], 3)}</td></tr>")
        out.append('</table><p class="note">Paired bootstrap over the shared units; p from paired approximate '
                   "randomisation (two-sided); bold: p &lt; 0.05, not corrected for the number of metrics.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _md(v: object) -> str:
    return re.sub(r"([|\\`*_<>\[\]])", r"\\\1", str(v))


def render_markdown(folder: ScoreFolder, comparison: list[dict] | None = None,
                    other: ScoreFolder | None = None) -> str:
    bench = folder.provenance.get("benchmark", "")
    out = [f"### {_md(bench)} scores with 95% intervals", ""]
    out += [f"- {_md(k)}: {_md(v)}" for k, v in _meta_rows(folder)] + [""]
    for title, _unit, rows, (lo, hi) in sections(folder):
        d = 2 if hi - lo > 10 else 4
        out += [f"**{_md(title)}**", "", "| | score | 95% CI | units |", "|---|---:|---:|---:|"]
        out += [f"| {_md(label)} | {_f(est, d)} | "
                f"{'[' + _f(a, d) + ', ' + _f(b, d) + ']' if a is not None and b is not None else ''} | "
                f"{_md(note.removeprefix('n='))} |" for label, est, a, b, note in rows]
        out.append("")
    if comparison is not None and other is not None:
        out += [f"**B - A** (A = {_md(folder.label)}, B = {_md(other.label)})", "",
                "| set | metric | A | B | B - A | 95% CI | p |", "|---|---|---:|---:|---:|---:|---:|"]
        for r in comparison:
            d = 2 if r["task"] == "semantic" else 4
            ci = f"[{_f(r['ci_low'], d)}, {_f(r['ci_high'], d)}]" if r["ci_low"] is not None else ""
            out.append(f"| {r['set']} | {_md(r['metric'])} | {_f(r['a'], d)} | {_f(r['b'], d)} | "
                       f"{_f(r['diff'], d)} | {ci} | {_f(r['p_value'], 3)} |")
        out.append("")
    return "\n".join(out)


def cmd_report(a) -> int:
    """``zrc report SCORES [-o FILE] [--compare B] [--markdown]``."""
    from .main import UsageError, _write_scores  # here: main imports this module

    try:
        folder = resolve(a.scores, job_files)
        other = resolve(a.compare, job_files) if a.compare else None
        rows = comparison_rows(folder, other) if other else None
    except AnalysisError as exc:
        raise UsageError(str(exc)) from None
    markdown = a.markdown or (a.output or "").endswith(".md")
    default = (Path(a.scores) if Path(a.scores).is_dir() else Path.cwd()) / f"report.{'md' if markdown else 'html'}"
    out = Path(a.output) if a.output else default
    text = (render_markdown if markdown else render_html)(folder, rows, other)
    _write_scores({out.name: text.encode()}, out.parent)
    if a.json:
        output.print_json({"ok": True, "output": str(out)})
    else:
        output.say(f"report written to {out}")
    return 0
