"""The embedded default: the whole service stack in-process, for a researcher with nothing else.

When ``ZRC_SERVER`` is unset the CLI starts results, validation, the four
scorers and the gateway as real gRPC servers on Unix sockets inside its own
process, over local-directory storage under ``ZRC_HOME``. The
code path is exactly the server's: same servicers, same job runner, same wire
format; only the storage backend and the process boundaries differ. Service
logs go to ``ZRC_HOME/logs/embedded.log``, keeping the terminal for the user.

The gateway runs without tokens (its one user is the local admin), so it must be
reachable by nobody else: the sockets live in a fresh ``mkdtemp`` directory
(mode 0700, removed on close), never on a TCP port another user of a shared
machine (an HPC login node) could call. The internal services also check a
per-run internal credential, as on a server.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import structlog

from zrc.app.datasets import DatasetCache
from zrc.common import internal, runtime
from zrc.common.local import LocalFolders
from zrc.core.benchmarks import SCORERS
from zrc.gateway.runner import Runner
from zrc.gateway.server import build
from zrc.results.server import register as results_register
from zrc.storage.local import LocalStorage
from zrc.storage.prune import BudgetError, budget_from_env, prune_store

LOG_LIMIT = 5 << 20   # the log is kept to about this size: one previous generation, then dropped


def _log_to_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.stat().st_size > LOG_LIMIT:
        os.replace(path, path.with_suffix(path.suffix + ".1"))
    fh = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(fh), cache_logger_on_first_use=False)


class Embedded:
    def __init__(self, home: Path, settings: dict[str, str] | None = None):
        self.home = home
        self.settings = settings or {}   # extra gateway settings (tests: ZRC_SUBMIT_REQUIRE_RAW, ...)
        self.storage = LocalStorage(home / "store")
        self.storage.ensure_buckets()
        self._servers: list = []
        self._stops: list = []
        self.runner: Runner | None = None
        self.address = ""
        self.sockets = ""
        self._started = time.time()
        self.local = LocalFolders()   # folders this process evaluates in place (nothing copied to ZRC_HOME)

    def start(self, scoring: bool = True) -> Embedded:
        """``scoring=False`` (commands that only read: datasets, leaderboard, jobs, admin...) starts only the
        results service and the gateway, without the job runner: a command that scores nothing answers in
        a fraction of the time. The validation and scorer addresses then name no socket, so a stray call
        fails UNAVAILABLE instead of running anything."""
        _log_to_file(self.home / "logs" / "embedded.log")
        addrs = {}
        self.sockets = tempfile.mkdtemp(prefix="zrc-")   # 0700: only this user may connect
        token = secrets.token_urlsafe(32)
        guard = (internal.InternalAuthInterceptor(internal.token_sha256(token)),)

        def start(name, register, interceptors=guard) -> str:
            address = f"unix:{self.sockets}/{name}.sock"
            server, _, _, stop = runtime.start_server(name, register, address, 8, self.storage, interceptors,
                                                      private=True)
            self._servers.append(server)
            self._stops.append(stop)
            return address

        addrs["results"] = start("results", results_register(self.storage))
        if scoring:
            from zrc.scoring.server import register as scoring_register
            from zrc.validation.server import register as validation_register

            # One process: the services share parsed gold files instead of each parsing them again.
            datasets = DatasetCache(self.storage)
            addrs["validation"] = start("validation", validation_register(self.storage, datasets, self.local))
            for t in SCORERS:
                addrs[t] = start(f"scoring-{t}",
                                 scoring_register(self.storage, t, datasets=datasets, local=self.local))
        else:
            addrs.update({n: f"unix:{self.sockets}/not-started.sock" for n in ("validation", *SCORERS)})
        tmp = self.home / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = {"ZRC_VALIDATION_ADDR": addrs["validation"], "ZRC_RESULTS_ADDR": addrs["results"],
               "ZRC_TMPDIR": str(tmp), "ZRC_REAP_SECONDS": "2", "ZRC_RETRY_BUDGET_SECONDS": "20",
               "ZRC_INTERNAL_TOKEN": token,
               **{f"ZRC_SCORER_{t.upper()}_ADDR": addrs[t] for t in SCORERS}}
        # stream, watch and job settings may be tuned from the environment as on a server
        env.update({k: v for k, v in os.environ.items()
                    if k.startswith(("ZRC_STREAM", "ZRC_WATCH_", "ZRC_MAX_STREAMS", "ZRC_JOB_"))})
        env["ZRC_AUTH"] = "off"   # one local user, who is the admin; no quota
        # a job left by a zrc process that died (killed by its input?) is ended, never resumed by this one
        env["ZRC_ADOPT_ORPHANS"] = "0"
        env.update(self.settings)
        reg, self.runner, self._clients, _ = build(self.storage, env, local=self.local)
        if scoring:
            self.runner.start()
        self.address = start("gateway", reg, ())   # serving once start() returns: no health to wait for
        return self

    def close(self) -> None:
        if self.runner:
            self.runner.shutdown()
        for stop in self._stops:
            stop.set()
        for server in reversed(self._servers):
            server.stop(0.5)
        if self.runner and self.runner.settled():   # a job still running keeps its channels (see settled)
            self._clients.close()
        if self.sockets:
            shutil.rmtree(self.sockets, ignore_errors=True)
        self.prune()

    def prune(self):
        """Keep ZRC_HOME within ZRC_HOME_BUDGET: least recently used caches go, this session's stay."""
        try:
            return prune_store(self.storage.root, budget_from_env(), keep_used_since=self._started - 0.1)  # coarse fs clocks
        except (BudgetError, OSError) as exc:
            print(f"warning: ZRC_HOME was not pruned: {exc}", file=sys.stderr)
            return None


def start_embedded(home: str | os.PathLike, scoring: bool = True) -> Embedded:
    try:
        budget_from_env()   # a bad ZRC_HOME_BUDGET is a setup error now, not a warning after the work
    except BudgetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        emb = Embedded(Path(home))
        try:
            return emb.start(scoring)
        except BaseException:  # Ctrl-C or a failure half-way: stop the servers already started, go on failing
            emb.close()
            raise
    except OSError as exc:
        print(f"error: cannot start the embedded evaluation stack under {home}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
