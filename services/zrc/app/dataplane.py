"""Validating a submission and scoring one (task, set) part of it: the services' work, without a transport.

Validation parses params.yaml and meta.yaml, checks every selected file, and pools the embeddings while it
reads them. What it prepares for scoring travels in the messages, not through a side channel: the effective
params (ValidateResponse -> job record -> ScoreRequest.params) and, per semantic part, a reference to the pooled
vectors it left (ValidateResponse.pooled -> ScoreRequest.pooled_ref). A scorer therefore never re-validates: it
reads only its part's input (a pairs task's one score file; nothing at all for a semantic part whose vectors
were handed over). Without params (validation skipped, an older gateway) it reads params.yaml itself, through
the same core function validation uses; without pooled vectors (pruned, or a local folder's taken already) it
pools the files itself with validation's own per-set scan. A pooled upload (the client pooled the files) hands
nothing over: the scorer reads its set's vectors from the archive, which is cheaper than a second copy.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field

import numpy as np
import structlog

from zrc.common.data import decode_result, encode_result, open_submission
from zrc.core import SCORER_VERSION
from zrc.core.dataset import DatasetError, SemanticGold
from zrc.core.errors import InvalidArgument
from zrc.core.findings import Finding, Findings
from zrc.core.leaderboard import summarize
from zrc.core.params import Params, default_params
from zrc.core.scoring import PooledSet, TaskResult, score_pairs, score_semantic
from zrc.core.sources import FileTree, SourceError
from zrc.core.validation import Report, check_score_file, read_params, rejected, scan_semantic, validate
from zrc.storage import RESULTS, SUBMISSIONS, NotFound, Storage, keys

from .datasets import DatasetCache
from .selection import Selected, resolve

log = structlog.get_logger("zrc.app")


class NotScorable(InvalidArgument):
    """The part cannot be scored from this submission (its input is missing or invalid): the input's fault."""


@dataclass
class Validated:
    report: Report
    dataset_digest: str
    pooled_refs: list[tuple[str, str, str]] = field(default_factory=list)   # (task, set, ref)


@dataclass
class Scored:
    files: dict[str, bytes]
    summary: dict            # full-precision aggregates (zrc.core.leaderboard.summarize)
    scorer_version: str
    stored: bool = False       # stored under the result key (by this call or an earlier one)
    stored_before: bool = False  # answered from the stored result: nothing scored
    lost_race: bool = False    # scored, but another call stored the part first (this one is not counted)


class DataPlane:
    """Validation and scoring over one storage; ``local`` is the embedded stack's LocalFolders (None on a
    server, which then refuses local folder references)."""

    def __init__(self, storage: Storage, datasets: DatasetCache | None = None, local=None):
        self.storage = storage
        self.datasets = datasets or DatasetCache(storage)
        self.local = local

    # validation -------------------------------------------------------------------------------------------
    def validate(self, sel) -> Validated:
        """Every finding of the selection, and the pooled vectors of its semantic parts left for the scorer."""
        s = resolve(sel, self.datasets)
        dataset, digest = self.datasets.get(s.dataset)
        try:
            tree = open_submission(self.storage, sel.submission_digest, sel.local_ref, self.local)
        except SourceError as exc:   # refused as a whole (not a zip, over a limit): the user's error, a finding
            return Validated(rejected(exc, default_params(s.bench.name)), digest)
        try:
            # vectors the client pooled are only checked here: each semantic scorer reads its set's from the
            # archive (a copy would cost a 240 MB write and read at 768 dims, and holding them 230 MB here)
            report = validate(dataset, tree, s.bench, s.sets, s.tasks, keep_uploaded=False)
        finally:
            tree.close()
        out = Validated(report, digest)
        for (task, set_), pooled in report.pooled.items():
            ref = pooled_key(sel.submission_digest, digest, set_, report.params.cache_key())
            if sel.local_ref:   # same process: in memory, nothing derived from the folder lands in ZRC_HOME
                self.local.put_pooled(ref, pooled)
            else:
                save_pooled(self.storage, ref, pooled)
            out.pooled_refs.append((task, set_, ref))
        return out

    # scoring ----------------------------------------------------------------------------------------------
    def score(self, sel, task: str, version: str, *, params: Params | None = None, pooled_ref: str = "",
              skip_validation: bool = False, result_key: str = "") -> Scored:
        """Score the one (task, set) of ``sel``; with ``result_key`` answer from the stored result if there is
        one, else store this one under it (create-only: of two calls scoring the same part, e.g. a gateway
        died mid-call and another asked again, one stores it and counts it; durable before it is answered,
        so a lost answer costs no re-scoring)."""
        if list(sel.tasks) != [task] or len(sel.sets) != 1:
            raise InvalidArgument(f"this scorer scores exactly one set of task {task!r}")
        s = resolve(sel, self.datasets)
        set_ = s.sets[0]
        if result_key:
            try:
                d = decode_result(self.storage.get_bytes(RESULTS, keys.result(result_key)))
                log.info("scored", task=task, set=set_, stored_before=True)
                return Scored({n: c.encode() for n, c in d["files"].items()}, json.loads(d["summary_json"]),
                              d["scorer_version"], stored=True, stored_before=True)
            except NotFound:
                pass
        scored = self._score(sel, s, set_, version, params, pooled_ref, skip_validation)
        if result_key:
            d = {"key": result_key, "task": task, "set": set_, "summary_json": json.dumps(scored.summary, allow_nan=False),
                 "scorer_version": scored.scorer_version,
                 "files": {n: c.decode() for n, c in scored.files.items()}}
            scored.lost_race = not self.storage.put_if_absent(RESULTS, keys.result(result_key), encode_result(d))
            scored.stored = True
        return scored

    def _score(self, sel, s: Selected, set_: str, version: str, params: Params | None, pooled_ref: str,
               skip: bool) -> Scored:
        task = s.tasks[0]
        dataset, _ = self.datasets.get(s.dataset)
        findings = Findings()
        try:
            gold = dataset.gold(task, set_)
        except DatasetError as exc:
            raise NotScorable(f"submission invalid for {task} {set_}: {exc.message}") from None
        pooled = self._take_pooled(sel, pooled_ref) if isinstance(gold, SemanticGold) else None
        result: TaskResult | None
        if isinstance(gold, SemanticGold) and params is not None and pooled is not None:   # nothing to read
            result = score_semantic(gold, pooled, params)
        else:
            tree = open_submission(self.storage, sel.submission_digest, sel.local_ref, self.local)
            try:
                result = self._from_tree(tree, s, set_, gold, params, pooled, skip, findings)
            finally:
                tree.close()
        errors = [] if skip else findings.errors
        if result is None or errors:
            first = errors[0] if errors else Finding("error", "not_scored",
                                                     f"{task} {set_}: nothing to score (input missing)")
            raise NotScorable(f"submission invalid for {task} {set_}: {first}")
        log.info("scored", task=task, set=set_, pooled_cache=pooled is not None)
        return Scored(result.files(), summarize(result, dataset), version)

    @staticmethod
    def _from_tree(tree: FileTree, s: Selected, set_: str, gold, params: Params | None,
                   pooled: dict[str, PooledSet] | None, skip: bool, findings: Findings) -> TaskResult | None:
        """Score from the submission's files: validation's own readers, for this one part only."""
        task = s.tasks[0]
        if params is None:   # validation skipped: params.yaml read by validation's own function
            params, pf = read_params(tree, s.bench.name)
            findings.extend(pf)
            blocking = [f for f in pf.errors if not skip or f.code == "params_yaml"]
            if blocking:
                raise NotScorable(f"submission invalid for {task} {set_}: {blocking[0]}")
        if isinstance(gold, SemanticGold):
            return score_semantic(gold, pooled if pooled is not None else scan_semantic(gold, tree, params, findings),
                                  params)
        sf = check_score_file(gold, tree, s.spec(task), set_, findings)
        return None if sf is None else score_pairs(gold, sf, params)

    def _take_pooled(self, sel, ref: str) -> dict[str, PooledSet] | None:
        """The vectors validation pooled for this part, if it left them (and they are this submission's)."""
        if not ref:
            return None
        if sel.local_ref:
            return self.local.take_pooled(ref) if self.local is not None else None
        if keys.pooled_digest(ref) != sel.submission_digest:
            raise InvalidArgument("pooled_ref is not a reference to this submission's pooled vectors")
        return load_pooled(self.storage, ref)


def pooled_key(digest: str, dataset_digest: str, set_: str, params_key: dict) -> str:
    """Where the validation service leaves the pooled embeddings of one semantic set for the scorer."""
    blob = json.dumps([digest, dataset_digest, set_, params_key, SCORER_VERSION], sort_keys=True)
    return keys.pooled(digest, hashlib.sha256(blob.encode()).hexdigest())


def save_pooled(storage: Storage, key: str, pooled: dict) -> None:
    """Pooled vectors (one float64 row per file) as an npz: no pickles, one object instead of ~40k."""
    buf = io.BytesIO()
    np.savez(buf, **{f"{t}__{k}": getattr(p, k) for t, p in pooled.items() for k in ("vectors", "present")})
    size = buf.tell()
    buf.seek(0)
    # streamed from the buffer: getvalue() would hold a second copy (230 MB for a 768-dim submission)
    storage.put_file(SUBMISSIONS, key, buf, size)


def load_pooled(storage: Storage, key: str) -> dict | None:
    try:
        data = storage.get_bytes(SUBMISSIONS, key)
    except NotFound:
        return None
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        types = {name.split("__")[0] for name in z.files}
        return {t: PooledSet(z[f"{t}__vectors"], z[f"{t}__present"]) for t in types}
