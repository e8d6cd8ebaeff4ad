"""Keep the embedded store (``ZRC_HOME``) under a size budget, least recently used first.

A researcher who scores ten checkpoints a day must not fill their disk: what the store keeps for speed
(uploaded archives, pooled embeddings, cached task results and validations) is a cache, and is pruned
when its total exceeds ``ZRC_HOME_BUDGET`` (default 2 GB) at the end of every embedded session, or on
demand with ``zrc cache:prune``. Imported datasets, job records, leaderboard entries and users/tokens are
state, not cache, and are never pruned (they are small). "Used" is the file's modification time:
:class:`~zrc.storage.local.LocalStorage` touches a file whenever it is read, so a result read yesterday
outlives one written last week and never read again.

A pruned result is simply computed again the next time it is asked for; a job whose results were pruned
can no longer return its score files (``zrc jobs:scores``), its record stays.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import RESULTS, SUBMISSIONS, keys

DEFAULT_BUDGET = 2 * 1000**3
# (bucket, key prefix) whose objects are caches: safe to delete, recomputed on demand
PRUNABLE = ((SUBMISSIONS, ""), (RESULTS, keys.RESULT_CACHE))
_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2, "G": 1000**3, "GB": 1000**3,
          "T": 1000**4, "TB": 1000**4, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}


class BudgetError(ValueError):
    """A size that cannot be parsed (names the setting)."""


def parse_size(text: str, what: str = "ZRC_HOME_BUDGET") -> int:
    """``"2G"``, ``"500MB"``, ``"1.5GiB"``, ``"0"`` or a byte count -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text or "")
    unit = m.group(2).upper() if m else ""
    if not m or unit not in _UNITS:
        raise BudgetError(f"{what} must be a size such as 2G, 500M or 0 (bytes), got {text!r}")
    return int(float(m.group(1)) * _UNITS[unit])


def budget_from_env(env: dict[str, str] | None = None) -> int:
    value = (os.environ if env is None else env).get("ZRC_HOME_BUDGET", "")
    return parse_size(value) if value.strip() else DEFAULT_BUDGET


@dataclass
class PruneReport:
    budget: int
    before: int = 0          # bytes of prunable files before
    after: int = 0
    removed: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return self.before - self.after

    def to_dict(self) -> dict:
        return {"budget": self.budget, "before": self.before, "after": self.after, "freed": self.freed,
                "removed": len(self.removed)}


def _files(root: Path, bucket: str, prefix: str):
    base = root / bucket
    start = base / prefix if prefix else base
    for dirpath, _, names in os.walk(start):
        for n in names:
            p = Path(dirpath) / n
            try:
                st = p.stat()
            except FileNotFoundError:   # removed by another process meanwhile
                continue
            yield p, st.st_size, st.st_mtime


def prune_store(root: str | os.PathLike, budget: int, keep_used_since: float | None = None) -> PruneReport:
    """Delete least recently used cache files under ``root`` (a LocalStorage root) until they fit ``budget``.

    ``keep_used_since`` (a time.time()) protects files used since then, e.g. by the session that is ending.
    """
    root = Path(root)
    files = [f for bucket, prefix in PRUNABLE for f in _files(root, bucket, prefix)]
    report = PruneReport(budget=budget, before=sum(size for _, size, _ in files))
    total = report.before
    for path, size, used in sorted(files, key=lambda f: f[2]):   # oldest use first
        if total <= budget:
            break
        if keep_used_since is not None and used >= keep_used_since:
            continue
        path.unlink(missing_ok=True)
        total -= size
        report.removed.append(str(path.relative_to(root)))
        _remove_empty_parents(path.parent, root)
    report.after = total
    return report


def _remove_empty_parents(d: Path, root: Path) -> None:
    while d != root and d.parent != root:   # keep the bucket folders themselves
        try:
            d.rmdir()
        except OSError:
            return
        d = d.parent
