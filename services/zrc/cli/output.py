"""Terminal output: rich when stdout is a terminal, plain untruncated lines otherwise.

rich is imported on first use (``zrc --help`` does not need it). Tables never cut a value: on a terminal long
cells wrap (``overflow="fold"``); piped or redirected, each row is one tab-separated line, header first, so
``zrc leaderboard sLM21 | cut -f3`` and ``grep`` see every character.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Iterator, Sequence
from itertools import groupby

from zrc.core.findings import Finding


class _Plain:
    """What a rich Console does for a stream that is not a terminal (text as is, no styles), without importing
    rich: piped and redirected output, and the commands that only list, stay cheap (issue 15: under 0.3 s)."""

    is_terminal = False

    def __init__(self, stderr: bool):
        self.stderr = stderr

    def print(self, text: str, *_, **__) -> None:
        stream = sys.stderr if self.stderr else sys.stdout
        stream.write(f"{text}\n")
        stream.flush()


def _terminal(stderr: bool) -> bool:
    """Whether rich would treat the stream as a terminal: a tty, or one of the variables that force it."""
    if any(os.environ.get(v) for v in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")):
        return True
    try:
        return (sys.stderr if stderr else sys.stdout).isatty()
    except (AttributeError, ValueError):   # replaced or closed stream
        return False


@functools.cache
def _console(stderr: bool):
    if not _terminal(stderr):
        return _Plain(stderr)
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def __getattr__(name: str):
    """``output.out`` / ``output.err``: the stdout / stderr consoles, created when first used."""
    if name in ("out", "err"):
        return _console(name == "err")
    raise AttributeError(name)


def say(text: str) -> None:
    _console(False).print(text, markup=False)


def note(text: str) -> None:
    """Progress chatter: stderr, so that stdout stays parseable with --json."""
    _console(True).print(text, style="dim", markup=False)


def warn(text: str) -> None:
    _console(True).print(f"warning: {text}", style="yellow", markup=False)


def error(text: str) -> None:
    _console(True).print(f"error: {text}", style="bold red", markup=False)


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False, default=str) + "\n")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]],
          right: Sequence[str] = ()) -> None:
    """A table: rich on a terminal (cells wrap, never cut), tab-separated lines when stdout is not one."""
    cells = [["" if v is None else str(v) for v in r] for r in rows]
    out = _console(False)
    if not out.is_terminal:
        sys.stdout.write("\t".join(headers) + "\n")
        for r in cells:
            sys.stdout.write("\t".join(c.replace("\t", " ").replace("\n", " ") for c in r) + "\n")
        sys.stdout.flush()
        return
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title)
    for h in headers:
        t.add_column(h, overflow="fold", justify="right" if h in right else "left")
    for r in cells:
        t.add_row(*(escape(c) for c in r))  # names and ids are user text (meta.yaml), never rich markup
    out.print(t)


def findings(items: Sequence[Finding], quiet: bool = False) -> None:
    """One line per finding, grouped by file, errors first within a file."""
    shown = [f for f in items if not (quiet and f.severity == "warning")]
    ordered = sorted(shown, key=lambda f: (f.file or "", f.severity != "error", f.line or 0))
    err = _console(True)
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
    rows = []
    if benchmark == "prosAudit":
        for typ in ("lexical", "protosyntax"):
            rows.append([f"{typ} (accuracy)", _fmt(s[typ]["dev"]["score"]), _fmt(s[typ]["test"]["score"])])
    else:
        pairs = [("lexical all", s["lexical"]["all"]), ("lexical in-vocab", s["lexical"]["in_vocab"]),
                 ("syntactic", s["syntactic"])]
        for kind in ("normal", "weighted"):
            for sub in ("synthetic", "librispeech"):
                pairs.append((f"semantic {kind} {sub}", s["semantic"][kind][sub]))
        for label, v in pairs:
            if v["dev"] is None and v["test"] is None:
                continue
            rows.append([label, _fmt(v["dev"]), _fmt(v["test"])])
    table(f"{benchmark} scores", ["score", "dev", "test"], rows, right=("dev", "test"))


def _live(quiet: bool) -> bool:
    """Progress only for a person watching: not with -q, not when stdout is piped or redirected."""
    return not quiet and _console(False).is_terminal and _console(True).is_terminal


@contextlib.contextmanager
def upload_progress(quiet: bool, total: int | None = None) -> Iterator:
    """A callback(n_bytes) drawing an upload bar on a terminal (stderr); None otherwise.

    The callback has ``.set_total(n)`` for when the size is known only once the archive is built.
    """
    if not _live(quiet):
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    cols = (TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*cols, console=_console(True), transient=True) as prog:
        task = prog.add_task("upload", total=total)

        def advance(n: int) -> None:
            prog.advance(task, n)

        advance.set_total = lambda n: prog.update(task, total=n)  # type: ignore[attr-defined]  # read by the client
        yield advance


@contextlib.contextmanager
def job_progress(quiet: bool, total: int | None = None) -> Iterator:
    """A callback(JobEvent) printing each step of the job as it happens (stderr), as "[done/total]"."""
    if not _live(quiet):
        yield None
        return
    from rich.markup import escape

    err = _console(True)
    done = [0]
    with err.status("queued...") as st:
        def cb(event) -> None:
            if event.task:
                done[0] += 1
                count = f"[{done[0]}/{total}] " if total else ""
                err.print(f"[green]✔[/] {count}{escape(event.message)}", highlight=False)
            else:
                st.update(escape(event.message) + "...")
        yield cb


def leaderboard(benchmark: str, entries: list[dict]) -> None:
    """Published entries, test-set scores (with +- the half-width of their 95% interval); baselines flagged."""
    from .analysis import half_width  # here: analysis imports this module
    if benchmark == "sLM21":
        cols = ["lexical", "lex. in-vocab", "syntactic", "sem. synth (w)", "sem. libri (w)"]
    else:
        cols = ["lexical", "protosyntax"]
    rows = []
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
        rows.append([str(i), name, e.get("model_id") or "", *cells, z.get("scorer_version", "")])
    table(f"{benchmark} leaderboard ({len(entries)} entries, test set)", ["#", "system", "model id", *cols, "scorer"],
          rows, right=("#", *cols))
