"""Evaluation jobs: a small state machine, kept as JSON in object storage.

States only move forward (QUEUED -> VALIDATING -> SCORING -> SUCCEEDED, or to
INVALID / FAILED from any non-final state); a status never goes backwards, the
complaint users have about other platforms. Every change appends an event, so a
watcher can resume after the last event it saw. A lease (owner + expiry,
renewed by heartbeats) tells which gateway works on a job; a job whose lease
has expired is picked up by any gateway.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import Conflict

QUEUED, VALIDATING, SCORING, SUCCEEDED, INVALID, FAILED = (
    "QUEUED", "VALIDATING", "SCORING", "SUCCEEDED", "INVALID", "FAILED")
ORDER = {QUEUED: 0, VALIDATING: 1, SCORING: 2, SUCCEEDED: 3, INVALID: 3, FAILED: 3}
FINAL = frozenset({SUCCEEDED, INVALID, FAILED})


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


class TransitionError(ValueError):
    pass


class JobConflict(Conflict):
    """A conditional write of a job record lost: another writer changed it first (a gateway that took the
    job over after this one's lease expired). The loser must stop working on the job."""


@dataclass
class Job:
    job_id: str
    selection: dict[str, Any]             # submission_digest, benchmark, dataset, sets, tasks
    skip_validation: bool = False
    owner: str = ""
    publish: bool = False                 # publish the entry to the leaderboard on success
    baseline: bool = False
    model_id: str = ""
    replaces_entry: str = ""              # re-scoring: the leaderboard entry to overwrite
    state: str = QUEUED
    findings: list[dict] = field(default_factory=list)
    failure_reason: str = ""
    parts: list[list[str]] = field(default_factory=list)      # [task, set] to score
    done: dict[str, str] = field(default_factory=dict)        # "task set" -> result key
    events: list[dict] = field(default_factory=list)
    params_json: str = ""
    meta_json: str = "null"
    dataset_digest: str = ""
    pooled_refs: dict[str, str] = field(default_factory=dict)  # "task set" -> ValidateResponse.pooled ref
    lease_owner: str = ""
    lease_expires: float = 0.0
    attempts: int = 0
    revision: int = 0                     # writes so far: every write is a compare-and-set on it
    # Calls begun and not seen to end, per worker ("validation", "scoring <task>"): a crash leaves one up.
    starts: dict[str, int] = field(default_factory=dict)
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)

    @classmethod
    def new(cls, selection: dict[str, Any], skip_validation: bool, **extra: Any) -> Job:
        job = cls(job_id=uuid.uuid4().hex, selection=selection, skip_validation=skip_validation, **extra)
        job.event(QUEUED, "job created")
        return job

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def event(self, state: str, message: str, task: str = "", set_: str = "") -> None:
        self.events.append({"seq": len(self.events), "state": state, "message": message, "task": task,
                            "set": set_, "at": now()})
        self.updated_at = now()

    def move(self, state: str, message: str) -> None:
        if self.final:
            raise TransitionError(f"job {self.job_id} is already {self.state}")
        if ORDER[state] < ORDER[self.state]:
            raise TransitionError(f"job {self.job_id}: {self.state} -> {state} would go backwards")
        self.state = state
        self.event(state, message)

    def part_done(self, task: str, set_: str, key: str, cached: bool) -> None:
        self.done[f"{task} {set_}"] = key
        self.event(self.state, f"{task} {set_} scored{' (cached)' if cached else ''}", task, set_)

    def lease_free(self, owner: str, at: float) -> bool:
        return not self.lease_owner or self.lease_owner == owner or self.lease_expires < at

    def take_lease(self, owner: str, at: float, seconds: float) -> None:
        if self.lease_owner != owner:
            self.attempts += 1
        self.lease_owner, self.lease_expires = owner, at + seconds

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Job:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})
