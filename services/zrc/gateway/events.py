"""Job events pushed to watchers, without a thread per watcher.

``WatchJob`` used to poll the job record in a loop, holding one of the gateway's
worker threads per watcher: a handful of watchers starved uploads. Now:

* every job record this gateway writes (``Clients.put_job``: the runner's one
  place for transitions, and Evaluate) is published here as it is written;
* one poller thread per gateway fetches the records of the jobs being watched
  (one read per watched job, however many watch it), so jobs run by another
  gateway replica, whose records change in shared storage under us, still reach
  our watchers;
* one dispatcher thread hands each new record to the job's watchers, which send
  what is new through gRPC's non-blocking stream callback and end their stream
  on the final state or when their time (``ZRC_WATCH_SECONDS``) is up.

A watcher is a ``deliver(job | None | GOING) -> bool`` callback: a record to
forward (True once the watch is over), None when its time is up, or GOING when
the gateway shuts down (the stream should end UNAVAILABLE: the client waits a
little and reconnects, to another replica, instead of spinning on this one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from zrc.core import jobs

log = structlog.get_logger("zrc.gateway.events")
GOING = "gateway shutting down"
Record = jobs.Job | Callable[[], jobs.Job]   # a job record, or a function making it (read only if watched)
Deliver = Callable[["jobs.Job | str | None"], bool]


class _Watch:
    __slots__ = ("job_id", "deliver", "until", "over")

    def __init__(self, job_id: str, deliver: Deliver, until: float):
        self.job_id, self.deliver, self.until, self.over = job_id, deliver, until, False


class JobEvents:
    def __init__(self, fetch: Callable[[str], jobs.Job], poll_seconds: float = 1.0):
        self.fetch, self.poll_seconds = fetch, poll_seconds
        self._cond = threading.Condition()
        self._watches: dict[str, set[_Watch]] = {}
        self._pending: list[tuple[_Watch | None, str, Record]] = []   # (one watch or all, job id, record)
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self._stop = threading.Event()   # the poller's clock: not woken by every publish

    # producers ------------------------------------------------------------------------------------------
    def publish(self, job_id: str, record: Record) -> None:
        """A job record as just written (a Job, or a function making it: called only if someone watches)."""
        with self._cond:
            if job_id in self._watches:
                self._pending.append((None, job_id, record))
                self._cond.notify_all()

    def watch(self, job_id: str, deliver: Deliver, seconds: float, current: jobs.Job) -> Callable[[], None]:
        """Start forwarding ``job_id``'s records to ``deliver``, the first being ``current``; returns a
        function that ends the watch (the client went away)."""
        w = _Watch(job_id, deliver, time.monotonic() + seconds)
        with self._cond:
            stopped = self._stopped
        if stopped:   # the gateway is going: the client reconnects elsewhere
            self._deliver(w, GOING)
            return lambda: None
        with self._cond:
            self._start()
            self._watches.setdefault(job_id, set()).add(w)
            self._pending.append((w, job_id, current))
            self._cond.notify_all()

        def cancel() -> None:
            with self._cond:
                self._drop(w)
        return cancel

    def watched(self) -> int:
        with self._cond:
            return sum(len(ws) for ws in self._watches.values())

    def stop(self, wait: float = 2.0) -> None:
        """End every watch (its client reconnects, to another gateway if this one is going) and the threads;
        before the server stops, so no stream is sent to after."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(wait)

    # internals -----------------------------------------------------------------------------------------
    def _start(self) -> None:
        if not self._threads:
            for target, name in ((self._dispatch, "watch-dispatch"), (self._poll, "watch-poll")):
                t = threading.Thread(target=target, name=name, daemon=True)
                t.start()
                self._threads.append(t)

    def _drop(self, w: _Watch) -> None:
        w.over = True
        ws = self._watches.get(w.job_id)
        if ws is not None:
            ws.discard(w)
            if not ws:
                del self._watches[w.job_id]

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    nearest = min((w.until for ws in self._watches.values() for w in ws), default=None)
                    wait = None if nearest is None else max(0.0, nearest - time.monotonic())
                    if wait == 0.0:
                        break
                    self._cond.wait(wait)
                if self._stopped:
                    ended = [w for ws in self._watches.values() for w in ws]
                    for w in ended:
                        self._drop(w)
                    work = []
                else:
                    now = time.monotonic()
                    ended = [w for ws in self._watches.values() for w in ws if w.until <= now]
                    for w in ended:
                        self._drop(w)
                    work = [(([one] if one else list(self._watches.get(job_id, ()))), record)
                            for one, job_id, record in self._pending]
                    self._pending.clear()
            for w in ended:   # time is up (or the gateway stops): the client reconnects after its last event
                self._deliver(w, GOING if self._stopped else None)
            if self._stopped:
                return
            for ws, record in work:
                ws = [w for w in ws if not w.over]
                if not ws:
                    continue
                try:
                    job = record if isinstance(record, jobs.Job) else record()
                except Exception:  # noqa: BLE001 - an unreadable record must not stop the dispatcher
                    log.exception("watch_record_unreadable")
                    continue
                for w in ws:
                    if self._deliver(w, job):
                        with self._cond:
                            self._drop(w)

    @staticmethod
    def _deliver(w: _Watch, job: jobs.Job | str | None) -> bool:
        try:
            return w.deliver(job) or not isinstance(job, jobs.Job)
        except Exception:  # noqa: BLE001 - one broken stream must not stop the others
            log.exception("watch_delivery_failed", job_id=w.job_id)
            return True

    def _poll(self) -> None:
        """Jobs another gateway runs change in storage, not through us: re-read each watched one."""
        while not self._stop.wait(self.poll_seconds):
            with self._cond:
                ids = list(self._watches)
            for job_id in ids:
                try:
                    job = self.fetch(job_id)
                except Exception as exc:  # noqa: BLE001 - storage hiccup: the next round tries again
                    log.warning("watch_poll_failed", job_id=job_id, error=str(exc)[:200])
                    continue
                self.publish(job_id, job)
