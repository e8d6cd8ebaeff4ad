"""Limits on everything a submission controls, so that no input costs more than a bounded amount.

A public evaluation server reads files written by anyone. Without bounds a 1 KB
YAML file of aliases, a 32 MB ``.npy`` with 8 million features or a zip that
inflates 1000-fold costs gigabytes, and one user's bad file takes the shared
validator down for everyone. Every limit here is one setting with a default
that leaves real submissions (about 40k embedding files, score files of up to
~130k lines, feature dimensions up to 2048) far inside, and can be changed
with an environment variable ``ZRC_LIMIT_<NAME>`` (for example
``ZRC_LIMIT_MEMBER_BYTES=134217728``). Exceeding one ends validation with an
error finding that names the setting, never with an exception.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace

ENV_PREFIX = "ZRC_LIMIT_"


class LimitConfigError(ValueError):
    """A ``ZRC_LIMIT_*`` variable that is not a positive integer."""


@dataclass(frozen=True)
class Limits:
    archive_bytes: int = 16 << 30     # compressed archive size
    members: int = 100_000            # files in an archive (central directory entries)
    member_bytes: int = 64 << 20      # uncompressed size of one file
    pooled_bytes: int = 320 << 20     # one pooled-vectors npz (pooled/<set>/<type>.npz): files x features x 8
                                      # bytes, 16,332 x 2,048 x 8 = 268 MB at array_features, plus the names
    total_bytes: int = 32 << 30       # uncompressed size of all files
    ratio: int = 200                  # uncompressed / compressed size of one file (over 1 MiB)
    name_chars: int = 255             # length of a file path, and of a name in a score file
    line_chars: int = 256             # length of one line of a score file
    score_lines: int = 400_000        # lines of one score file
    score_bytes: int = 16 << 20       # size of one score file (real ones are a few MB)
    array_bytes: int = 64 << 20       # bytes of one embedding array
    array_frames: int = 100_000       # rows of one embedding array
    array_features: int = 2048        # columns of one embedding array (pooled vectors: files x features)
    yaml_bytes: int = 64 << 10        # size of params.yaml / meta.yaml
    yaml_depth: int = 16              # nesting of params.yaml / meta.yaml
    yaml_nodes: int = 5_000           # scalars + collections of params.yaml / meta.yaml
    findings: int = 200               # findings kept per report (the rest are counted by code)
    excerpt_chars: int = 80           # longest value echoed back in a finding

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Defaults, overridden by ``ZRC_LIMIT_<FIELD>``; a bad value is a clear error, not a crash."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            try:
                value = int(raw)
            except ValueError:
                raise LimitConfigError(f"{ENV_PREFIX}{f.name.upper()} must be an integer, got {raw[:40]!r}") from None
            if value <= 0:
                raise LimitConfigError(f"{ENV_PREFIX}{f.name.upper()} must be positive, got {value}")
            values[f.name] = value
        return cls(**values)

    @staticmethod
    def setting(name: str) -> str:
        """The environment variable of one limit (what findings name)."""
        return ENV_PREFIX + name.upper()


# What an organiser's own files (datasets) are read with: they are not user input.
UNLIMITED = Limits(**{f.name: 1 << 62 for f in fields(Limits)})

_current: Limits | None = None


def limits() -> Limits:
    """The limits in force (read from the environment once)."""
    global _current
    if _current is None:
        _current = Limits.from_env()
    return _current


def set_current(value: Limits) -> None:
    """The limits a service runs with (from its environment, checked at start)."""
    global _current
    _current = value


@contextlib.contextmanager
def override(**changes: int) -> Iterator[Limits]:
    """Temporarily different limits (tests, and the chaos suite's reduced runs)."""
    global _current
    before = limits()
    _current = replace(before, **changes)
    try:
        yield _current
    finally:
        _current = before


def excerpt(value: object, n: int | None = None) -> str:
    """``value`` as text cut to ``n`` characters plus an ellipsis: what a finding may echo of user input."""
    n = limits().excerpt_chars if n is None else n
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= n:
        return text
    return text[:n] + f"… ({len(text)} characters)"


def quoted(value: object, n: int | None = None) -> str:
    """What ``{value!r}`` shows, cut to an excerpt: 'abc…' for text, the repr of anything else."""
    if isinstance(value, str):
        return "'" + excerpt(value, n) + "'"
    return excerpt(repr(value), n)


def summary() -> str:
    """The main limits in one line, for messages that must say what the input may not exceed."""
    lim = limits()
    return (f"{Limits.setting('member_bytes')}={lim.member_bytes}, {Limits.setting('members')}={lim.members}, "
            f"{Limits.setting('array_bytes')}={lim.array_bytes}, "
            f"{Limits.setting('array_features')}={lim.array_features}, "
            f"{Limits.setting('line_chars')}={lim.line_chars}")
