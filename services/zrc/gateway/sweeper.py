"""Retention: what abandoned and invalid submissions leave behind is deleted after a while.

Without it every interrupted upload kept its bytes forever and every
invalid archive stayed (hundreds of MiB from a few bad days). A gateway thread
sweeps the submissions bucket every ``ZRC_SWEEP_SECONDS`` (default 3600; 0
disables it):

* unfinished uploads (S3 multipart uploads under ``archives/``; a local store's
  hidden temp files) that a gateway which died mid-upload left behind, once started
  longer ago than ``ZRC_RETAIN_UPLOAD_HOURS`` (default 24) plus the time a live gateway
  keeps an interrupted upload parked for resuming (``uploads.PARK_SECONDS``). They are
  invisible but hold space; MinIO also expires them itself (``stale_uploads_expiry``),
  an AWS bucket needs an abort-incomplete-multipart-upload lifecycle rule or this;
* upload segments (``uploads/<user>/<sha256>/``) and staging objects of gateways
  older than one-pass uploads, untouched for ``ZRC_RETAIN_UPLOAD_HOURS``;
* archives older than ``ZRC_RETAIN_INVALID_HOURS`` (default 168) whose every
  job ended INVALID, or that no job ever used (uploaded for ``verify`` only),
  with what validation derived from them (``derived/<sha256>/``). An archive
  with any other job (succeeded, running, failed for infrastructure reasons)
  or on a leaderboard is kept;
* finished job records (SUCCEEDED, INVALID, FAILED) whose last change is older
  than ``ZRC_RETAIN_JOB_DAYS`` (default 0: kept forever), except a job that
  published a leaderboard entry (the entry names it). Their cached results
  stay: a new job on the same submission is answered from them.

Deleting is safe against races: a fresh archive is younger than the
retention age, and a later Evaluate of a swept digest is refused as "not
uploaded" (the client uploads it again). Several gateways may sweep at once:
deletes are idempotent.
"""

from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass

import structlog

from zrc.core import jobs
from zrc.gateway.uploads import PARK_SECONDS
from zrc.storage import RESULTS, SUBMISSIONS, NotFound, Storage, keys

log = structlog.get_logger("zrc.gateway.sweeper")


@dataclass
class RetentionSettings:
    every: float = 3600.0
    upload_hours: float = 24.0
    invalid_hours: float = 168.0
    job_days: float = 0.0       # finished job records kept this long (0: forever)


class Sweeper:
    def __init__(self, storage: Storage, job_summaries, settings: RetentionSettings):
        """``job_summaries()`` returns every job record summary (dicts with selection and state)."""
        self.storage, self.job_summaries, self.s = storage, job_summaries, settings
        self.stop = threading.Event()

    def start(self) -> None:
        if self.s.every > 0:
            threading.Thread(target=self._loop, name="retention-sweeper", daemon=True).start()

    def shutdown(self) -> None:
        self.stop.set()

    def _loop(self) -> None:
        while not self.stop.wait(self.s.every):
            try:
                self.sweep()
            except Exception as exc:  # noqa: BLE001 - storage may be down: next time
                log.warning("sweep_failed", error=str(exc)[:200])

    def sweep(self) -> dict[str, int]:
        """One pass; returns how many objects of each kind were deleted."""
        deleted = {"upload_segments": 0, "unfinished_uploads": 0, "archives": 0, "derived": 0, "jobs": 0}
        upload_age = self.s.upload_hours * 3600
        deleted["unfinished_uploads"] = self.storage.abort_stale_parts(SUBMISSIONS, keys.ARCHIVES,
                                                                       upload_age + PARK_SECONDS)
        for prefix in (keys.UPLOADS, keys.STAGING):
            # an upload (its folder, uploads/<user>/<sha256>/) is abandoned when its newest segment is old (a
            # resuming client adds new ones); the user's other, live uploads do not keep it alive
            newest: dict[str, float] = {}
            ages = self.storage.list_ages(SUBMISSIONS, prefix)
            for key, age in ages:
                group = key.rpartition("/")[0] if prefix == keys.UPLOADS else key
                newest[group] = min(age, newest.get(group, age))
            for key, _ in ages:
                group = key.rpartition("/")[0] if prefix == keys.UPLOADS else key
                if newest[group] > upload_age:
                    self._delete(key)
                    deleted["upload_segments"] += 1
        keep: set[str] = set()
        summaries = self.job_summaries()
        for d in summaries:
            digest = (d.get("selection") or {}).get("submission_digest", "")
            if d.get("state") != jobs.INVALID:
                keep.add(digest)
        invalid_age = self.s.invalid_hours * 3600
        for key, age in self.storage.list_ages(SUBMISSIONS, keys.ARCHIVES):
            digest = keys.archive_digest(key)
            if digest in keep or age <= invalid_age:
                continue
            self._delete(key)
            deleted["archives"] += 1
            for derived in self.storage.list(SUBMISSIONS, keys.derived(digest)):
                self._delete(derived)
                deleted["derived"] += 1
        if self.s.job_days > 0:
            deleted["jobs"] = self._old_jobs(summaries)
        if any(deleted.values()):
            log.info("swept", **deleted)
        return deleted

    def _old_jobs(self, summaries: list[dict]) -> int:
        cutoff = _dt.datetime.now(_dt.UTC) - _dt.timedelta(days=self.s.job_days)
        n = 0
        for d in summaries:
            if d.get("state") not in jobs.FINAL or (d.get("publish") and d.get("state") == jobs.SUCCEEDED):
                continue
            try:
                updated = _dt.datetime.fromisoformat(d.get("updated_at") or "")
            except ValueError:
                continue
            if updated < cutoff:
                try:   # final jobs have no open/ marker: the record is all there is
                    self.storage.delete(RESULTS, keys.job(d["job_id"]))
                    n += 1
                except NotFound:
                    pass
        return n

    def _delete(self, key: str) -> None:
        try:
            self.storage.delete(SUBMISSIONS, key)
        except NotFound:
            pass
