"""Terminal output: rich when stdout is a terminal, plain lines otherwise."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from itertools import groupby

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from zrc.core.findings import Finding

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def say(text: str) -> None:
    out.print(text, markup=False)


def note(text: str) -> None:
    """Progress chatter: stderr, so that stdout stays parseable with --json."""
    err.print(text, style="dim", markup=False)


def warn(text: str) -> None:
    err.print(f"warning: {text}", style="yellow", markup=False)


def error(text: str) -> None:
    err.print(f"error: {text}", style="bold red", markup=False)


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False, default=str) + "\n")


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    t = Table(title=title)
    for h in headers:
        t.add_column(h)
    for r in rows:
        t.add_row(*("" if v is None else escape(str(v)) for v in r))  # names are user text, not markup
    out.print(t)


def findings(items: Sequence[Finding], quiet: bool = False) -> None:
    """One line per finding, grouped by file, errors first within a file."""
    shown = [f for f in items if not (quiet and f.severity == "warning")]
    ordered = sorted(shown, key=lambda f: (f.file or "", f.severity != "error", f.line or 0))
    for file, group in groupby(ordered, key=lambda f: f.file or ""):
        err.print(file or "(submission)", style="bold", markup=False)
        for f in group:
            line = f"  line {f.line}: " if f.line is not None else "  "
            style = "red" if f.severity == "error" else "yellow"
            err.print(f"{line}{f.severity}: {f.message} [{f.code}]", style=style, markup=False)


def _fmt(v) -> str:
    return "" if v is None else f"{v:.4f}"


def summary(benchmark: str, entry: dict) -> None:
    """The score table: lexical all / in-vocab, syntactic, semantic normal / weighted, ProsAudit per type."""
    s = entry["scores"]
    t = Table(title=f"{benchmark} scores")
    t.add_column("score")
    t.add_column("dev", justify="right")
    t.add_column("test", justify="right")
    if benchmark == "prosAudit":
        for typ in ("lexical", "protosyntax"):
            t.add_row(f"{typ} (accuracy)", _fmt(s[typ]["dev"]["score"]), _fmt(s[typ]["test"]["score"]))
    else:
        rows = [("lexical all", s["lexical"]["all"]), ("lexical in-vocab", s["lexical"]["in_vocab"]),
                ("syntactic", s["syntactic"])]
        for kind in ("normal", "weighted"):
            for sub in ("synthetic", "librispeech"):
                rows.append((f"semantic {kind} {sub}", s["semantic"][kind][sub]))
        for label, v in rows:
            if v["dev"] is None and v["test"] is None:
                continue
            t.add_row(label, _fmt(v["dev"]), _fmt(v["test"]))
    out.print(t)


def _live(quiet: bool) -> bool:
    """Progress only for a person watching: not with -q, not when stdout is piped or redirected."""
    return not quiet and out.is_terminal and err.is_terminal


@contextlib.contextmanager
def upload_progress(quiet: bool) -> Iterator:
    """A callback(n_bytes) drawing an upload bar on a terminal (stderr); None otherwise."""
    if not _live(quiet):
        yield None
        return
    cols = (TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*cols, console=err, transient=True) as prog:
        task = prog.add_task("upload", total=None)
        yield lambda n: prog.advance(task, n)


@contextlib.contextmanager
def job_progress(quiet: bool) -> Iterator:
    """A callback(JobEvent) printing each step of the job as it happens (stderr)."""
    if not _live(quiet):
        yield None
        return
    with err.status("queued...") as st:
        def cb(event) -> None:
            if event.task:
                err.print(f"[green]✔[/] {escape(event.message)}", highlight=False)
            else:
                st.update(escape(event.message) + "...")
        yield cb


def leaderboard(benchmark: str, entries: list[dict]) -> None:
    """Published entries, test-set scores (with +- the half-width of their 95% interval); baselines flagged."""
    from .analysis import half_width  # here: analysis imports this module
    t = Table(title=f"{benchmark} leaderboard ({len(entries)} entries, test set)")
    t.add_column("#", justify="right")
    t.add_column("system")
    t.add_column("model id")
    if benchmark == "sLM21":
        for c in ("lexical", "lex. in-vocab", "syntactic", "sem. synth (w)", "sem. libri (w)"):
            t.add_column(c, justify="right")
    else:
        for c in ("lexical", "protosyntax"):
            t.add_column(c, justify="right")
    t.add_column("scorer")
    for i, e in enumerate(entries, 1):
        z = e.get("zrc") or {}
        name = (e.get("publication") or {}).get("author_short") or e.get("submitted_by") or ""
        if z.get("baseline"):
            name += " [baseline]"
        s = e["scores"]
        if benchmark == "sLM21":
            vals = [s["lexical"]["all"]["test"], s["lexical"]["in_vocab"]["test"], s["syntactic"]["test"],
                    s["semantic"]["weighted"]["synthetic"]["test"], s["semantic"]["weighted"]["librispeech"]["test"]]
        else:
            vals = [s["lexical"]["test"]["score"], s["protosyntax"]["test"]["score"]]
        # the 95% interval as +- half-width when the entry carries one (published since intervals exist)
        metrics = (["lexical.all", "lexical.in_vocab", "syntactic", "semantic.weighted.synthetic",
                    "semantic.weighted.librispeech"] if benchmark == "sLM21" else ["lexical", "protosyntax"])
        cells = [_fmt(v) + ("" if v is None or (h := half_width(e, m)) is None else f" ±{_fmt(h)}")
                 for v, m in zip(vals, metrics, strict=True)]
        # author labels and model ids come from meta.yaml: shown as text, never read as rich markup
        t.add_row(str(i), escape(name), escape(e.get("model_id") or ""), *cells,
                  escape(z.get("scorer_version", "")))
    out.print(t)
