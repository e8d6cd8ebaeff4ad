"""The ``zrc`` console entry: Ctrl-C at any moment gives one line and exit 130, never a traceback or a hang.

The handler is installed before the CLI is imported, so an interrupt during start-up (imports, the embedded
services starting) is one line too. While a command runs, Ctrl-C is a normal ``KeyboardInterrupt`` so that
``finally`` blocks stop the embedded servers and remove temporary files; ``main`` turns it into exit 130. The
process then ends with ``os._exit``: a gRPC worker thread still busy (a scorer half-way through a set) must not
keep a finished or interrupted process alive, as interpreter shutdown would by joining it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

INTERRUPTED = 130


def _leave(signum=None, frame=None) -> None:
    try:
        os.write(2, b"error: interrupted\n")
    finally:
        os._exit(INTERRUPTED)


def _quiet_exit(signum=None, frame=None) -> None:
    os._exit(INTERRUPTED)


_interrupted = False


def _interrupt(signum=None, frame=None) -> None:
    """Ctrl-C during a command: a KeyboardInterrupt in the main thread, as usual, remembered so that a
    worker thread that fails while the stack stops does not print its traceback after "interrupted"."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _thread_failed(args) -> None:
    if not _interrupted:
        threading.__excepthook__(args)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def run() -> None:  # pragma: no cover - exercised through the installed script (tests/test_daily_use.py)
    signal.signal(signal.SIGINT, _leave)
    from zrc.common.malloc import limit_arenas

    limit_arenas()   # before any thread (the embedded stack's servers): see zrc.common.malloc
    from zrc.cli.main import main

    signal.signal(signal.SIGINT, _interrupt)
    threading.excepthook = _thread_failed
    try:
        code = main()
    except KeyboardInterrupt:  # a second Ctrl-C while the first one was being handled
        _flush()
        _leave()
    signal.signal(signal.SIGINT, _quiet_exit)  # the command has answered: an interrupt now only ends it sooner
    _flush()
    # Every resource was released by the command's own `with`/`finally` blocks; what interpreter shutdown would
    # add is joining gRPC's idle worker threads (slow, and it resets SIGINT so that a Ctrl-C then kills the
    # process with no message). Leave now, with the command's code.
    os._exit(code if isinstance(code, int) else 1)
