"""Modules imported on first use, so that ``zrc --help`` and ``import zrc`` stay cheap.

numpy, grpc and the generated protobuf modules cost a few hundred milliseconds to import; a command that
only prints help, lists benchmarks or edits a file must not pay for them. ``lazy_module("grpc")`` returns a
stand-in whose first attribute access imports the real module (``importlib.import_module`` caches it in
``sys.modules``, so later accesses are a dictionary lookup).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


class _LazyModule:
    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> ModuleType:
    """A stand-in for module ``name`` that imports it on first attribute access."""
    return _LazyModule(name)  # type: ignore[return-value]


def import_structlog_without_rich() -> None:
    """Import structlog with rich hidden (call it before anything imports structlog).

    structlog imports rich (about 0.1 s of CPU, a third of a command that scores nothing) for a console
    renderer zrc never uses: every zrc log is JSON. The CLI calls this before it starts the embedded services;
    rich stays importable afterwards (the CLI draws its tables with it on a terminal)."""
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]   # `import rich` raises ImportError meanwhile
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]
