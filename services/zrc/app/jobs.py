"""Jobs and publishing, without a transport: what the gateway decides, apart from translating messages.

The gateway servicer and the runner call this module; it reaches the results service and the scorers only
through a small :class:`Store` (the gateway's ``Clients``; tests pass fakes), so it holds no ``grpc`` import and
its rules (who may publish what, which entry a submission replaces, which jobs a user sees, when scores can be
read) are stated once, next to each other, instead of inside RPC handlers.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from zrc.common.data import open_submission, result_key, selection_to_dict
from zrc.common.local import REFUSED, LocalFolders, LocalRefError
from zrc.core import SCORER_VERSION, jobs
from zrc.core.benchmarks import BENCHMARKS, get_benchmark
from zrc.core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from zrc.core.findings import Finding
from zrc.core.meta import check_meta
from zrc.lazy import lazy_module
from zrc.storage import SUBMISSIONS, Storage, keys

from .datasets import DatasetCache
from .selection import Selected, resolve

if TYPE_CHECKING:
    from zrc.core import analysis, leaderboard, pooled
    from zrc.core.analysis import ScoreFolder
else:   # numpy: loaded by the first job scored, published or compared, not by a gateway that only lists
    analysis = lazy_module("zrc.core.analysis")
    leaderboard = lazy_module("zrc.core.leaderboard")
    pooled = lazy_module("zrc.core.pooled")


@dataclass
class PartResult:
    """One scored (task, set) as the results service keeps it: the reference's CSVs and the full-precision
    aggregates entries and intervals are built from."""
    task: str
    files: dict[str, bytes]
    summary: dict
    scorer_version: str


class Store(Protocol):
    """What this layer needs from the other services (the gateway's ``Clients``; tests pass a fake): job
    records, results, leaderboard entries as plain dicts, scorer versions, and the validator."""

    def put_job(self, job: jobs.Job) -> None: ...
    def find_job(self, job_id: str) -> jobs.Job: ...   # NotFound / InvalidArgument for an unknown or malformed id
    def job_summaries(self) -> list[dict]: ...
    def get_result(self, key: str) -> PartResult: ...
    def validation_answer(self, key: str) -> Any: ...     # the ValidateResponse stored under key, or None
    def keep_validation_answer(self, key: str, answer: Any) -> None: ...
    def published(self, benchmark: str) -> list[dict]: ...   # the leaderboard's entries
    def get_entry(self, job_id: str) -> dict: ...
    def put_entry(self, job_id: str, entry: dict) -> None: ...
    def publish_entry(self, benchmark: str, entry_id: str, entry: dict) -> None: ...
    def scorer_version(self, scorer: str) -> str: ...
    def job_state(self, job_id: str) -> str | None: ...   # None when it cannot be read now
    def validate(self, sel) -> Any: ...   # the validation service's ValidateResponse


def version_label(task_names, versions: dict[str, str]) -> str:
    """The scorer versions of an entry, one per task ("lexical=1,syntactic=1,semantic=1")."""
    return ",".join(f"{t}={versions.get(t, '?')}" for t in task_names)


# validation answers ---------------------------------------------------------------------------------------
def _validation_key(sel, dataset_digest: str) -> str:
    # "validation typed": answers cached before typed protos held JSON text; they are not asked again
    return result_key(sel.submission_digest, dataset_digest, sel.benchmark, "validation typed",
                      " ".join(sel.sets) + "|" + " ".join(sel.tasks), {}, SCORER_VERSION)


def cached_validation(store: Store, sel, dataset_digest: str):
    """Validation is deterministic: the answer stored for this archive, dataset and selection, or None.

    ``sel`` names its sets and tasks in full (resolved), so ``zrc submit``'s ValidateSubmission and the job it
    then starts share one answer: the archive is read once, not once per call."""
    if not dataset_digest:
        return None
    return store.validation_answer(_validation_key(sel, dataset_digest))


def remember_validation(store: Store, sel, dataset_digest: str, v) -> None:
    """Keep ``v`` for :func:`cached_validation`, only if it was made against the expected dataset."""
    if dataset_digest and v.dataset_digest == dataset_digest:
        store.keep_validation_answer(_validation_key(sel, dataset_digest), v)


def resolved(sel, s: Selected):
    """A copy of the selection message ``sel`` naming what ``s`` resolved it to, as a job records it."""
    out = type(sel)()
    out.CopyFrom(sel)
    out.benchmark, out.dataset = s.bench.name, s.dataset
    del out.sets[:], out.tasks[:]
    out.sets.extend(s.sets)
    out.tasks.extend(s.tasks)
    return out


# publishing -----------------------------------------------------------------------------------------------
class Publisher:
    """Leaderboard entries of finished jobs: what meta.yaml must hold to publish, who owns a model_id, the
    entry a job writes and the published entry it replaces.

    ``enforce_identity`` and ``claim_model`` are set by a gateway whose tokens identify users: the entry's
    submitter is then the token's user (meta.yaml may not name another) and a model_id belongs to whoever
    published it first."""

    def __init__(self, store: Store | None):
        self.store = store
        self.enforce_identity = False
        self.claim_model: Callable[[str, str], str | None] | None = None

    def check(self, job: jobs.Job, benchmark: str, findings: list[dict], ok: bool, meta) -> tuple[list[dict], bool]:
        """Validation's findings, with publishing's own: a complete meta.yaml (the reference's
        MetaFile.is_valid) and the identity rules."""
        if not job.publish:
            return findings, ok
        meta_findings = check_meta(meta, benchmark=benchmark, strict=True)
        findings = [f for f in findings if not f["code"].startswith("meta_")]
        findings += [f.to_dict() for f in meta_findings.items]
        identity = self.identity_findings(job, meta)
        return findings + identity, ok and meta_findings.ok and not identity

    def identity_findings(self, job: jobs.Job, meta) -> list[dict]:
        """meta.yaml's username must be the authenticated owner; its model_id must be theirs (or free)."""
        if not self.enforce_identity or not isinstance(meta, dict) or job.replaces_entry:
            return []  # an admin's re-scoring keeps the entry it replaces (checked when first published)
        out = []
        name = meta.get("username")
        if (not job.baseline and isinstance(name, str) and name.strip() and not name.startswith("<")
                and name != job.owner):
            out.append(Finding("error", "meta_username_mismatch",
                               f"username is {name!r} but the token is {job.owner!r}'s: an entry is published "
                               f"under the authenticated user; set username: {job.owner}", "meta.yaml"))
        given = str(((meta.get("model_info") or {}) if isinstance(meta.get("model_info"), dict) else {})
                    .get("model_id") or "")
        model_id = job.model_id or ("" if given.startswith("<") else given)
        if model_id and self.claim_model is not None:
            why = self.claim_model(model_id, job.owner)
            if why:
                out.append(Finding("error", "meta_model_id_taken", f"model_info.model_id: {why}; choose another",
                                   "meta.yaml"))
        return [f.to_dict() for f in out]

    def entry(self, job: jobs.Job, benchmark: str, summaries: list[dict], params) -> dict:
        """The job's entry (reference schema); a published job gets its model_id here (meta.yaml's, or new)."""
        meta = json.loads(job.meta_json or "null")
        if job.publish and not job.model_id:
            given = str(((meta or {}).get("model_info") or {}).get("model_id") or "")
            job.model_id = given if given and not given.startswith("<") else uuid.uuid4().hex[:16]
        if job.model_id and isinstance(meta, dict):
            meta = {**meta, "model_info": {**(meta.get("model_info") or {}), "model_id": job.model_id}}
        if self.enforce_identity and isinstance(meta, dict) and not job.baseline:
            meta = {**meta, "username": job.owner}  # submitted_by is who authenticated, whatever meta.yaml says
        return leaderboard.entry_from_summaries(benchmark, summaries, params, meta, submission_id=job.job_id)

    def publish(self, job: jobs.Job, sel, entry: dict, summaries: list[dict], versions: dict[str, str]) -> None:
        """Store the job's entry; a published job also goes on the leaderboard (replacing its earlier entry)."""
        assert self.store is not None
        self.store.put_entry(job.job_id, entry)
        if not job.publish:
            return
        entry_id = job.replaces_entry or self._same_submission_entry(sel, job, entry) or job.job_id
        entry["zrc"] = {"entry_id": entry_id, "job_id": job.job_id, "owner": job.owner, "baseline": job.baseline,
                        "scorer_version": version_label(get_benchmark(sel.benchmark).task_names, versions),
                        "submission_digest": sel.submission_digest, "dataset": sel.dataset,
                        "published_at": jobs.now(),
                        # 95% bootstrap intervals of the published scores (docs/analysis.md)
                        "intervals": analysis.confidence_rows(summaries, entry)}
        self.store.publish_entry(sel.benchmark, entry_id, entry)

    def _same_submission_entry(self, sel, job: jobs.Job, entry: dict) -> str:
        """The id of this owner's published entry for the same submission, which a re-submit replaces.

        Same submission: the same archive, or the same model (``model_id``) with the very same scores; the
        latter because ``zrc submit`` writes the assigned model_id back into meta.yaml, which changes the bytes
        of an otherwise unchanged folder. Without this, submitting twice listed the system twice.
        """
        assert self.store is not None
        for old in self.store.published(sel.benchmark):
            z = old.get("zrc") or {}
            if z.get("owner") != job.owner or z.get("dataset") != sel.dataset or z.get("baseline") != job.baseline:
                continue
            same_bytes = z.get("submission_digest") == sel.submission_digest
            same_model = (bool(job.model_id) and old.get("model_id") == job.model_id
                          and old.get("scores") == json.loads(leaderboard.dumps(entry))["scores"])
            if same_bytes or same_model:
                return str(z.get("entry_id") or "")
        return ""


# the gateway's job decisions ------------------------------------------------------------------------------
def _page_token(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps([d["created_at"], d["job_id"]]).encode()).decode()


def _page_after(token: str) -> tuple[str, str]:
    try:
        created, job_id = json.loads(base64.urlsafe_b64decode(token.encode()[:400]))
        return str(created), str(job_id)
    except (ValueError, TypeError):
        raise InvalidArgument("page_token is not one this server returned") from None


class JobService:
    """Checking submissions and creating, listing and reading jobs, for the gateway. ``auth`` is the gateway's
    Auth (owners, quota, audit); ``submit`` hands a new job id to the runner; ``local`` is the embedded stack's
    LocalFolders (None on a server, which refuses local folder references)."""

    def __init__(self, store: Store, auth, submit: Callable[[str], None], storage: Storage,
                 local: LocalFolders | None = None):
        self.store, self.auth, self.submit, self.storage, self.local = store, auth, submit, storage, local
        self.require_raw = False   # ZRC_SUBMIT_REQUIRE_RAW: published entries must come from raw archives

    def check(self, sel, who) -> Selected:
        """Reject a bad request now, synchronously, rather than as a failed job later: the selection, the
        submission (uploaded, or a folder registered by this process) and that ``who`` may use it."""
        s = resolve(sel, DatasetCache(self.storage))   # manifest only: no gold file is read here
        if sel.local_ref:
            if self.local is None:
                raise LocalRefError(REFUSED)
            self.local.path(sel.local_ref)     # known to this process, or INVALID_ARGUMENT
            keys.digest(sel.submission_digest)  # the folder's fingerprint keys its cached results
        elif not self.storage.exists(SUBMISSIONS, keys.archive(sel.submission_digest)):
            raise NotFound(f"submission {sel.submission_digest[:12]} was not uploaded")
        if who is not None and not sel.local_ref:   # a local folder belongs to the process that registered it
            self.auth.check_owner(sel.submission_digest, who)
        return s

    def validate(self, sel, who):
        """Validate now (ValidateSubmission); the answer is kept for the job ``zrc submit`` starts next, whose
        runner then does not read the archive again."""
        s = self.check(sel, who)
        full = resolved(sel, s)
        v = cached_validation(self.store, full, s.dataset_digest)
        if v is None:
            v = self.store.validate(sel)
            remember_validation(self.store, full, s.dataset_digest, v)
        return v

    def _pooled(self, sel) -> bool:
        """Whether the archive carries pooled vectors instead of the embedding files (zrc.core.pooled)."""
        tree = open_submission(self.storage, sel.submission_digest, sel.local_ref, self.local)
        try:
            return pooled.is_pooled_upload(tree)
        finally:
            tree.close()

    def create(self, sel, who, *, publish: bool, baseline: bool, skip_validation: bool) -> tuple[jobs.Job, Selected]:
        """Evaluate's rules, then a queued job charged to ``who``'s quota, handed to the runner."""
        s = self.check(sel, who)
        bench, sets, tasks = s.bench.name, s.sets, s.tasks
        if baseline:
            self.auth.require_admin(who, "publishing a baseline")
            self.auth.audit(who, "baseline-publish", bench, sel.submission_digest[:12])
        if publish and (sets != ["dev", "test"] or tasks != list(s.bench.task_names) or skip_validation):
            raise InvalidArgument("a published submission is evaluated on every set and task, with validation")
        if publish and self.require_raw and self._pooled(sel):
            raise FailedPrecondition("this server requires the raw embedding files for zrc submit: run `zrc submit --raw`")
        selection = selection_to_dict(sel)
        selection.update(benchmark=bench, dataset=s.dataset, sets=sets, tasks=tasks)
        job = jobs.Job.new(selection, skip_validation, owner=who.user, publish=publish, baseline=baseline)
        job.dataset_digest = s.dataset_digest
        self.auth.charge(who, bench, job.job_id, self.store.job_state)
        self.store.put_job(job)
        self.submit(job.job_id)
        return job, s

    def own(self, job_id: str, who) -> jobs.Job:
        job = self.store.find_job(job_id)
        self.auth.check_job(job, who)
        return job

    def page(self, who, page_size: int, page_token: str) -> tuple[list[dict], str]:
        """The caller's job summaries (every job for an admin), oldest first, one page, and the next token."""
        if page_size < 0:
            raise InvalidArgument(f"page_size must not be negative, got {page_size}")
        size = min(page_size or 100, 1000)
        rows = [d for d in self.store.job_summaries() if who.admin or d.get("owner") == who.user]
        rows.sort(key=lambda d: (d["created_at"], d["job_id"]))
        if page_token:
            after = _page_after(page_token)
            rows = [d for d in rows if (d["created_at"], d["job_id"]) > after]
        page = rows[:size]
        return page, _page_token(page[-1]) if len(rows) > size else ""

    @staticmethod
    def require_scores(job: jobs.Job) -> None:
        """A job's scores can be read once it succeeded; otherwise say why not (an invalid one: its errors)."""
        if job.state == jobs.INVALID:
            raise InvalidArgument(f"job {job.job_id} found the submission invalid", violations=[
                (f"{f.get('file') or 'submission'}{':' + str(f['line']) if f.get('line') else ''}",
                 f"{f['message']} [{f['code']}]")
                for f in job.findings if f["severity"] == "error"][:100])
        if job.state == jobs.FAILED:
            raise FailedPrecondition(f"job failed: {job.failure_reason}")
        if job.state != jobs.SUCCEEDED:
            raise FailedPrecondition(f"job is {job.state}, not finished yet")

    def files(self, job: jobs.Job) -> tuple[dict[str, bytes], dict]:
        """A finished job's score files (the reference's + score_confidence.csv, provenance.json) and entry."""
        files: dict[str, bytes] = {}
        summaries, versions = [], {}
        for key in job.done.values():
            r = self.store.get_result(key)
            files.update(r.files)
            summaries.append(r.summary)
            versions[r.task] = r.scorer_version
        entry = self.store.get_entry(job.job_id)
        sel = job.selection
        files.update(analysis.analysis_files(sel["benchmark"], summaries, entry,
                                    dataset=sel.get("dataset") or get_benchmark(sel["benchmark"]).dataset,
                                    dataset_digest=job.dataset_digest, submission_digest=sel["submission_digest"],
                                    scorer_version=version_label(sorted(versions), versions), job_id=job.job_id))
        return files, entry

    def comparable(self, ident: str, who) -> ScoreFolder:
        """A finished job of the caller's (any job for an admin), or a published leaderboard entry."""
        job: jobs.Job | None
        try:
            job = self.store.find_job(ident)
        except (NotFound, InvalidArgument):
            job = None
        label = f"job {ident}"
        if job is None or not (who.admin or job.owner == who.user):
            entry = self._published(ident)
            if entry is None:
                if job is None:
                    raise NotFound(f"no job or leaderboard entry {ident}")
                raise PermissionDenied(f"job {ident} belongs to another user and is not a published entry")
            z = entry["zrc"]
            job, label = self.store.find_job(z["job_id"]), f"entry {z['entry_id']} ({entry.get('model_id') or 'no model id'})"
        if job.state != jobs.SUCCEEDED:
            raise FailedPrecondition(f"{label} is {job.state}, not finished")
        return analysis.load_folder(label, self.files(job)[0])

    def _published(self, ident: str) -> dict | None:
        """The published entry whose entry id or job id is ``ident``."""
        for bench in BENCHMARKS:
            for e in self.store.published(bench):
                z = e.get("zrc") or {}
                if ident in (z.get("entry_id"), z.get("job_id")):
                    return e
        return None

    def rescore(self, benchmark: str, who) -> list[str]:
        """Re-evaluate the published entries scored by another scorer version; each new job replaces its entry."""
        self.auth.require_admin(who, "re-scoring")
        bench = get_benchmark(benchmark)
        versions = {t.name: self.store.scorer_version(t.scorer) for t in bench.tasks}
        current_version = version_label(bench.task_names, versions)
        job_ids = []
        for e in self.store.published(bench.name):
            z = e.get("zrc") or {}
            if z.get("scorer_version") == current_version or not z.get("submission_digest"):
                continue
            selection = {"submission_digest": z["submission_digest"], "benchmark": bench.name,
                         "dataset": z.get("dataset", ""), "sets": ["dev", "test"], "tasks": list(bench.task_names)}
            job = jobs.Job.new(selection, False, owner=z.get("owner", ""), publish=True,
                               baseline=bool(z.get("baseline")), model_id=e.get("model_id") or "",
                               replaces_entry=z["entry_id"])
            self.store.put_job(job)
            self.submit(job.job_id)
            job_ids.append(job.job_id)
        self.auth.audit(who, "rescore", bench.name, f"{len(job_ids)} job(s)")
        return job_ids
