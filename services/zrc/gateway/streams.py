"""Streams that cannot starve the gateway.

The gateway serves every call from one pool of threads, and a gRPC stream
holds a thread for as long as it is open. Eight idle upload streams, or eight
watchers of a stalled job, used to take every thread, and nobody else could
even ask who they were. So:

* streams (uploads, dataset imports, watches) are counted per user
  (``ZRC_STREAMS_PER_USER``) and in all (``ZRC_MAX_STREAMS``, by default the
  pool size less a reserve for short calls); one over is RESOURCE_EXHAUSTED at
  once, with the limit named, instead of a wait;
* an upload that sends nothing for ``ZRC_STREAM_IDLE_SECONDS``, or that after
  that long averages under ``ZRC_STREAM_MIN_BYTES_PER_SECOND`` (a trickle that
  is never quite idle), is cancelled by a watchdog (what arrived is kept: the
  client resumes);
* a watch is a stream of bounded length (``ZRC_WATCH_SECONDS``): it may end
  without a final job, and the client reconnects after the last event it saw.
  A watch holds no thread (events are pushed: zrc.gateway.events), so watches
  have their own total (``ZRC_WATCH_MAX_STREAMS``, 1000) instead of taking
  the slots uploads need.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import structlog

from zrc.core.errors import ResourceExhausted

log = structlog.get_logger("zrc.gateway.streams")
RETRY_AFTER = 2.0   # seconds a client is told to wait (RetryInfo) when every stream of the server is taken


class StreamGuard:
    def __init__(self, per_user: int = 4, total: int = 6, idle_seconds: float = 30.0, watch_seconds: float = 60.0,
                 min_rate: float = 4 << 10, max_watches: int = 1000):
        self.per_user, self.total, self.min_rate, self.max_watches = per_user, total, min_rate, max_watches
        self.idle_seconds, self.watch_seconds = idle_seconds, watch_seconds
        self._lock = threading.Lock()
        self._by_user: Counter[str] = Counter()
        self._open = 0
        self._watches = 0
        self._watched: dict[int, list] = {}   # id -> [context, last activity]
        self._next = 0
        self._watchdog: threading.Thread | None = None

    @contextlib.contextmanager
    def open(self, user: str, kind: str) -> Iterator[None]:
        """Hold one stream slot of ``user`` for the duration of the block."""
        release = self.acquire(user, kind)
        try:
            yield
        finally:
            release()

    def acquire(self, user: str, kind: str) -> Callable[[], None]:
        """Take one stream slot of ``user``; returns the function that gives it back (once, however often
        called). Watches hold no thread (pushed by zrc.gateway.events): they count per user, and against
        their own total (``ZRC_WATCH_MAX_STREAMS``) instead of the threads' (``ZRC_MAX_STREAMS``)."""
        watch = kind == "watch"
        with self._lock:
            if self._by_user[user] >= self.per_user:
                raise ResourceExhausted(f"{self._by_user[user]} streams of yours are already open (limit "
                                        f"ZRC_STREAMS_PER_USER={self.per_user}); wait for one to finish")
            if watch and self._watches >= self.max_watches:
                raise ResourceExhausted(f"the server has {self._watches} watches open (limit ZRC_WATCH_MAX_STREAMS="
                                        f"{self.max_watches}); try again shortly", retry_after=RETRY_AFTER)
            if not watch and self._open >= self.total:
                raise ResourceExhausted(f"the server has {self._open} streams open (limit ZRC_MAX_STREAMS="
                                        f"{self.total}); try again shortly", retry_after=RETRY_AFTER)
            self._by_user[user] += 1
            if watch:
                self._watches += 1
            else:
                self._open += 1
        released: list[bool] = []

        def release() -> None:
            with self._lock:
                if released:
                    return
                released.append(True)
                self._by_user[user] -= 1
                if self._by_user[user] <= 0:
                    del self._by_user[user]
                if watch:
                    self._watches -= 1
                else:
                    self._open -= 1
        return release

    def idle_limited(self, messages, context) -> Iterator:
        """The request messages of ``context``; the call is cancelled if none arrives for ``idle_seconds``."""
        with self._lock:
            key = self._next
            self._next += 1
            entry = [context, time.monotonic(), time.monotonic(), 0]   # context, last message, start, bytes
            self._watched[key] = entry
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, name="stream-idle", daemon=True)
                self._watchdog.start()
        try:
            for msg in messages:
                entry[1] = time.monotonic()
                entry[3] += len(getattr(msg, "chunk", b"") or b"")
                yield msg
        finally:
            with self._lock:
                self._watched.pop(key, None)

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.idle_seconds / 4))
            now = time.monotonic()
            with self._lock:
                stale = [e for e in self._watched.values() if now - e[1] > self.idle_seconds
                         or (now - e[2] > self.idle_seconds and e[3] / (now - e[2]) < self.min_rate)]
            for context, _, start, sent in stale:
                log.warning("stream_cancelled", idle_seconds=self.idle_seconds, seconds=round(now - start, 1),
                            bytes=sent, min_rate=self.min_rate)
                context.cancel()
