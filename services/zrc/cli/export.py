"""Leaderboard exports: the reference's ``sLM21-csv`` layout (and its ProsAudit equivalent)."""

from __future__ import annotations

import csv
import io


def _pct(v) -> str:
    # zrc 0.9.4 leaderboards/utils.format_score(percent=True)
    return "-" if v is None else f"{v * 100:.2f}%"


def _raw(v) -> str:
    return "" if v is None else repr(float(v))


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """A user-supplied text neutralised for spreadsheets (OWASP CSV injection): a cell that starts with
    = + - @ tab or CR would be run as a formula by Excel/LibreOffice, so it gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _label(e: dict) -> str:
    label = (e.get("publication") or {}).get("author_short") or ""
    for tag in ("<i>", "</i>", "<b>", "</b>"):
        label = label.replace(tag, "")
    return label


def leaderboard_csv(benchmark: str, entries: list[dict]) -> str:
    """sLM21: the columns of ``sLM21-csv`` (an index column, then label, model_id, submission_di (sic), set,
    lexical_all, lexical_in_vocab, syntactic as percentages, semantic correlations raw), dev and test rows
    interleaved per entry."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    rows = []
    if benchmark == "sLM21":
        w.writerow(["", "label", "model_id", "submission_di", "set", "lexical_all", "lexical_in_vocab", "syntactic",
                    "semantic_synth", "semantic_libri", "semantic_w_synth", "semantic_w_libri"])
        for e in entries:
            s = e["scores"]
            for set_ in ("dev", "test"):
                rows.append([cell(_label(e)), cell(e.get("model_id")), cell(e.get("submission_id")), set_,
                             _pct(s["lexical"]["all"][set_]), _pct(s["lexical"]["in_vocab"][set_]),
                             _pct(s["syntactic"][set_]),
                             _raw(s["semantic"]["normal"]["synthetic"][set_]),
                             _raw(s["semantic"]["normal"]["librispeech"][set_]),
                             _raw(s["semantic"]["weighted"]["synthetic"][set_]),
                             _raw(s["semantic"]["weighted"]["librispeech"][set_])])
    else:
        w.writerow(["", "label", "model_id", "submission_id", "set", "lexical", "protosyntax"])
        for e in entries:
            s = e["scores"]
            for set_ in ("dev", "test"):
                rows.append([cell(_label(e)), cell(e.get("model_id")), cell(e.get("submission_id")), set_,
                             _pct(s["lexical"][set_]["score"]), _pct(s["protosyntax"][set_]["score"])])
    for i, r in enumerate(rows):
        w.writerow([i, *r])
    return buf.getvalue()
