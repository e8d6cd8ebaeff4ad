"""Compare score files byte for byte (the README promises byte-identical output), explaining a difference.

Equality is on bytes; only when they differ are the files parsed to say where, so that a failure reads as
"row 3 col 'score': '0.5001' != expected '0.5000'" rather than as two long byte strings.
"""

from __future__ import annotations

import csv
import difflib
import io


def diff_csv(expected: bytes, actual: bytes) -> list[str]:
    """Differences as human-readable lines (empty list = the same bytes)."""
    if expected == actual:
        return []
    e = list(csv.reader(io.StringIO(expected.decode(errors="replace"))))
    a = list(csv.reader(io.StringIO(actual.decode(errors="replace"))))
    problems = []
    if e[:1] != a[:1]:
        problems.append(f"header {a[:1]} != expected {e[:1]}")
    elif len(e) != len(a):
        problems.append(f"{len(a) - 1} rows, expected {len(e) - 1}")
    else:
        for i, (re_, ra) in enumerate(zip(e, a, strict=True)):
            for j, (ce, ca) in enumerate(zip(re_, ra, strict=False)):
                if ce != ca:
                    problems.append(f"row {i + 1} col {e[0][j] if j < len(e[0]) else j!r}: {ca!r} != expected {ce!r}")
            if len(re_) != len(ra):
                problems.append(f"row {i + 1}: {len(ra)} fields, expected {len(re_)}")
            if len(problems) > 10:
                return problems
    if not problems:   # same cells, other bytes: line endings, quoting, a trailing newline, an encoding
        problems.append("same cells but different bytes: " + "; ".join(
            line for line in difflib.unified_diff(
                [repr(x) for x in expected.splitlines(keepends=True)],
                [repr(x) for x in actual.splitlines(keepends=True)], "expected", "actual", n=0, lineterm="")
        )[:2000])
    return problems
