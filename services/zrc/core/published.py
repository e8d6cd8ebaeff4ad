"""Reading the scores a published leaderboard entry holds: plain dicts, no numpy.

Apart from :mod:`zrc.core.analysis` (which needs numpy for intervals) so that a command that only lists a
leaderboard with its intervals loads nothing heavy.
"""

from __future__ import annotations

from typing import Any


def published(entry: dict, metric: str, set_: str) -> float | None:
    """The value a leaderboard entry publishes for ``metric`` on ``set_`` (None if it publishes none)."""
    parts = metric.split(".")
    if parts[0] == "semantic" and len(parts) == 3 and parts[1] not in ("normal", "weighted"):
        for row in (entry.get("extras") or {}).get("semantic") or []:
            if row.get("set") == set_ and row.get("dataset") == parts[1]:
                return row.get(parts[2])
        return None
    node: Any = entry.get("scores") or {}
    for p in parts:
        node = node.get(p) if isinstance(node, dict) else None
    node = node.get(set_) if isinstance(node, dict) else None
    if isinstance(node, dict):  # ProsAudit: {"score", "n", "std"}
        node = node.get("score")
    return node
