"""The embedded default: the whole service stack in-process, for a researcher with nothing else.

When ``ZRC_SERVER`` is unset the CLI starts results, validation, the four
scorers and the gateway as real gRPC servers on 127.0.0.1 (ephemeral ports)
inside its own process, over local-directory storage under ``ZRC_HOME``. The
code path is exactly the server's: same servicers, same job runner, same wire
format; only the storage backend and the process boundaries differ. Service
logs go to ``ZRC_HOME/logs/embedded.log``, keeping the terminal for the user.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import structlog

from zrc.common import runtime
from zrc.common.data import DatasetCache
from zrc.gateway.server import build
from zrc.results.server import register as results_register
from zrc.scoring.server import register as scoring_register
from zrc.storage.local import LocalStorage
from zrc.validation.server import register as validation_register

SCORERS = ("lexical", "syntactic", "semantic", "prosaudit")


def _log_to_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(fh), cache_logger_on_first_use=False)


class Embedded:
    def __init__(self, home: Path):
        self.home = home
        self.storage = LocalStorage(home / "store")
        self.storage.ensure_buckets()
        self._servers = []
        self._stops = []
        self.runner = None
        self.address = ""

    def start(self) -> Embedded:
        _log_to_file(self.home / "logs" / "embedded.log")
        addrs = {}

        def start(name, register) -> str:
            server, port, _, stop = runtime.start_server(name, register, "127.0.0.1:0", 8, self.storage)
            self._servers.append(server)
            self._stops.append(stop)
            return f"127.0.0.1:{port}"

        addrs["results"] = start("results", results_register(self.storage))
        # One process: the services share parsed gold files instead of each parsing them again.
        datasets = DatasetCache(self.storage)
        addrs["validation"] = start("validation", validation_register(self.storage, datasets))
        for t in SCORERS:
            addrs[t] = start(f"scoring-{t}", scoring_register(self.storage, t, datasets=datasets))
        tmp = self.home / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = {"ZRC_VALIDATION_ADDR": addrs["validation"], "ZRC_RESULTS_ADDR": addrs["results"],
               "ZRC_TMPDIR": str(tmp), "ZRC_REAP_SECONDS": "2", "ZRC_RETRY_BUDGET_SECONDS": "20",
               **{f"ZRC_SCORER_{t.upper()}_ADDR": addrs[t] for t in SCORERS}}
        env["ZRC_AUTH"] = "off"   # one local user, who is the admin; no quota
        reg, self.runner, self._clients, _ = build(self.storage, env)
        self.runner.start()
        self.address = start("gateway", reg)
        runtime.wait_serving(self.address, timeout=30)
        return self

    def close(self) -> None:
        if self.runner:
            self.runner.shutdown()
        for stop in self._stops:
            stop.set()
        for server in reversed(self._servers):
            server.stop(0.5)
        if self.runner:
            self._clients.close()


def start_embedded(home: str | os.PathLike) -> Embedded:
    try:
        emb = Embedded(Path(home))
        try:
            return emb.start()
        except BaseException:  # Ctrl-C or a failure half-way: stop the servers already started, go on failing
            emb.close()
            raise
    except OSError as exc:
        print(f"error: cannot start the embedded evaluation stack under {home}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
