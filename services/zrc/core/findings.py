"""Structured validation findings.

Validation never raises for bad input: every problem becomes a :class:`Finding`
(severity, stable code, file, line, message). :class:`Findings` collects them in
one pass and caps repeats of the same code in the same file so that a file with
80,000 bad lines yields a readable report plus a count, not 80,000 lines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]

# How many findings of one code are kept per file before they are summarised.
DEFAULT_CAP = 10


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

    def __init__(self, cap: int = DEFAULT_CAP):
        self.cap = cap
        self._items: list[Finding] = []
        self._seen: Counter[tuple[str | None, str]] = Counter()
        self._suppressed: Counter[tuple[str | None, str, Severity]] = Counter()

    def add(self, severity: Severity, code: str, message: str, file: str | None = None,
            line: int | None = None) -> None:
        key = (file, code)
        self._seen[key] += 1
        if self._seen[key] > self.cap:
            self._suppressed[(file, code, severity)] += 1
            return
        self._items.append(Finding(severity, code, message, file, line))

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
        for (file, code, severity), n in self._suppressed.items():
            out.append(Finding(severity, code, f"... and {n} more of the same kind", file))
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
