"""Compare score CSVs: same header, same rows in the same order, numbers within a tolerance."""

from __future__ import annotations

import csv
import io
import math


def _num(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def diff_csv(expected: bytes, actual: bytes, tol: float = 1e-4) -> list[str]:
    """Differences as human-readable lines (empty list = equal)."""
    e = list(csv.reader(io.StringIO(expected.decode())))
    a = list(csv.reader(io.StringIO(actual.decode())))
    problems = []
    if e[:1] != a[:1]:
        return [f"header {a[:1]} != expected {e[:1]}"]
    if len(e) != len(a):
        problems.append(f"{len(a) - 1} rows, expected {len(e) - 1}")
    for i, (re_, ra) in enumerate(zip(e, a, strict=False)):
        for j, (ce, ca) in enumerate(zip(re_, ra, strict=False)):
            if ce == ca:
                continue
            ne, na = _num(ce), _num(ca)
            if ne is not None and na is not None and (
                    abs(ne - na) <= tol or (math.isnan(ne) and math.isnan(na))):
                continue
            problems.append(f"row {i + 1} col {e[0][j]!r}: {ca!r} != expected {ce!r}")
            if len(problems) > 10:
                return problems
    return problems
