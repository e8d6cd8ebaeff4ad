"""Tokens saved by ``zrc user:login``: ``ZRC_HOME/credentials.json``, one token per server, mode 0600."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .home import home


def path() -> Path:
    return home() / "credentials.json"


def load(server: str) -> str | None:
    try:
        return json.loads(path().read_text()).get(server)
    except (OSError, ValueError):
        return None


def save(server: str, token: str) -> Path:
    p = path()
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        data = {}
    data[server] = token
    tmp = p.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, p)
    return p


def clear(server: str | None) -> list[str]:
    """Forget the token of ``server`` (every token if None); returns the servers forgotten."""
    p = path()
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return []
    removed = sorted(data) if server is None else [server] if server in data else []
    for s in removed:
        del data[s]
    if not data:
        p.unlink(missing_ok=True)
        return removed
    tmp = p.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, p)
    return removed
