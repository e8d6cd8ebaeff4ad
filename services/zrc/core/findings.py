"""Structured validation findings.

Validation never raises for bad input: every problem becomes a :class:`Finding`
(severity, stable code, file, line, message). :class:`Findings` collects them in
one pass and caps repeats of the same code in the same file so that a file with
80,000 bad lines yields a readable report plus a count, not 80,000 lines. The
whole report is capped too (``ZRC_LIMIT_FINDINGS``: 100k junk files must not
make 100k findings, a job record of megabytes and a gRPC message over the
limit), with counts by code for what was left out, and every message and file
name is cut to a bounded length whatever a caller forgot to cut.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Literal

from .limits import excerpt, limits

Severity = Literal["error", "warning"]

# How many findings of one code are kept per file before they are summarised.
DEFAULT_CAP = 10
MESSAGE_CHARS = 400   # a message carries a few excerpts (each cut to ZRC_LIMIT_EXCERPT_CHARS) and words


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str
    file: str | None = None
    line: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = self.file or "submission"
        if self.line is not None:
            where += f":{self.line}"
        return f"{self.severity}: {where}: {self.message} [{self.code}]"


class Findings:
    """An ordered, capped collection of findings."""

    def __init__(self, cap: int = DEFAULT_CAP, total: int | None = None):
        self.cap = cap
        self.total = limits().findings if total is None else total
        self._items: list[Finding] = []
        self._seen: Counter[tuple[str | None, str]] = Counter()
        self._suppressed: Counter[tuple[str | None, str, Severity]] = Counter()
        self.counts: Counter[str] = Counter()   # every finding added, kept or not, by code

    def add(self, severity: Severity, code: str, message: str, file: str | None = None,
            line: int | None = None) -> None:
        self.counts[code] += 1
        if file is not None and len(file) > limits().name_chars:
            file = excerpt(file, limits().name_chars)
        key = (file, code)
        self._seen[key] += 1
        if self._seen[key] > self.cap:
            self._suppressed[(file, code, severity)] += 1
            return
        if len(self._items) >= self.total:
            # over the report cap: counted by code only (one summary line per code, not per file)
            self._suppressed[(None, code, severity)] += 1
            return
        self._items.append(Finding(severity, code, excerpt(message, MESSAGE_CHARS), file, line))

    def error(self, code: str, message: str, file: str | None = None, line: int | None = None) -> None:
        self.add("error", code, message, file, line)

    def warning(self, code: str, message: str, file: str | None = None, line: int | None = None) -> None:
        self.add("warning", code, message, file, line)

    def extend(self, other: Findings) -> None:
        for f in other.items:
            self.add(f.severity, f.code, f.message, f.file, f.line)

    @property
    def items(self) -> list[Finding]:
        out = list(self._items)
        summaries = list(self._suppressed.items())
        for (file, code, severity), n in summaries[:50]:   # summaries are bounded too (one per file and code)
            more = "" if file is not None else f" not listed (limit ZRC_LIMIT_FINDINGS={self.total})"
            out.append(Finding(severity, code, f"... and {n} more of the same kind{more}", file))
        if len(summaries) > 50:
            rest = sum(n for _, n in summaries[50:])
            by_code = ", ".join(f"{c}={n}" for c, n in self.counts.most_common(10))
            out.append(Finding("error" if any(s == "error" for (_, _, s), _ in summaries[50:]) else "warning",
                               "findings_cap", f"... and {rest} more findings not listed (limit "
                               f"ZRC_LIMIT_FINDINGS={self.total}; all findings by code: {excerpt(by_code, 200)})"))
        return out

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.items if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self._items) and not any(
            s == "error" for (_, _, s) in self._suppressed
        )

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)
