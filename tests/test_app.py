"""The application layer (zrc.app) without any transport: selection, validation, scoring one part, hand-off."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from zrc.app.dataplane import DataPlane, NotScorable
from zrc.app.jobs import JobService, Publisher, cached_validation
from zrc.app.selection import resolve
from zrc.client import build_archive
from zrc.common.data import selection_from_dict, selection_to_dict
from zrc.common.local import LocalFolders
from zrc.core import SCORER_VERSION, jobs
from zrc.core.benchmarks import BENCHMARKS, SCORERS, scorer_task
from zrc.core.dataset import load_dataset
from zrc.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from zrc.core.params import Params
from zrc.core.pipeline import SelectionError, evaluate
from zrc.core.sources import DirTree
from zrc.gateway.auth import Auth, Identity
from zrc.pb.common.v1 import common_pb2
from zrc.pb.validation.v1 import validation_pb2
from zrc.storage import DATASETS, SUBMISSIONS, NotFound
from zrc.storage.local import LocalStorage


def _sel(digest: str, benchmark: str = "sLM21", sets=(), tasks=(), dataset: str = "", local_ref: str = ""):
    return SimpleNamespace(submission_digest=digest, benchmark=benchmark, dataset=dataset, sets=list(sets),
                           tasks=list(tasks), local_ref=local_ref)


@pytest.fixture()
def stored(slm21_case, tmp_path):
    """Local storage holding the sLM21 dataset and the submission's archive; (storage, digest, submission)."""
    dataset, sub = slm21_case
    storage = LocalStorage(tmp_path / "store")
    storage.ensure_buckets()
    for p in sorted(Path(dataset).rglob("*")):
        if p.is_file():
            storage.put_bytes(DATASETS, f"sLM21-dataset/files/{p.relative_to(dataset).as_posix()}", p.read_bytes())
    storage.put_json(DATASETS, "sLM21-dataset/manifest.json", {"benchmark": "sLM21", "digest": "d" * 64})
    build_archive(sub, tmp_path / "sub.zip")
    data = (tmp_path / "sub.zip").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    storage.put_bytes(SUBMISSIONS, f"archives/{digest}.zip", data)
    return storage, digest, sub


def test_scorer_routing_comes_from_the_catalogue():
    assert SCORERS == tuple(dict.fromkeys(t.scorer for b in BENCHMARKS.values() for t in b.tasks))
    assert scorer_task("prosaudit").name == "english"
    with pytest.raises(KeyError, match="unknown scorer"):
        scorer_task("phonetic")


def test_resolve_normalises_and_refuses(stored):
    storage, digest, _ = stored
    from zrc.app.datasets import DatasetCache
    cache = DatasetCache(storage)
    s = resolve(_sel(digest, "slm21", sets=["test", "dev"], tasks=["semantic", "lexical"]), cache)
    assert (s.bench.name, s.sets, s.tasks, s.dataset, s.dataset_digest) == (
        "sLM21", ["dev", "test"], ["lexical", "semantic"], "sLM21-dataset", "d" * 64)
    assert s.parts[0] == ("lexical", "dev") and len(s.parts) == 4
    with pytest.raises(SelectionError, match="unknown benchmark"):
        resolve(_sel(digest, "nope"))
    with pytest.raises(SelectionError, match="unknown set"):
        resolve(_sel(digest, sets=["train"]))
    with pytest.raises(SelectionError, match="unknown task"):
        resolve(_sel(digest, tasks=["phonetic"]))
    with pytest.raises(NotFound, match="not imported"):
        resolve(_sel(digest, dataset="other"), cache)
    storage.put_json(DATASETS, "pa/manifest.json", {"benchmark": "prosAudit", "digest": "e" * 64})
    with pytest.raises(SelectionError, match="is a prosAudit dataset"):
        resolve(_sel(digest, dataset="pa"), cache)


def test_scorer_uses_what_validation_prepared(stored, slm21_case, monkeypatch):
    storage, digest, sub = stored
    core = evaluate(load_dataset(str(slm21_case[0])), DirTree(sub), "sLM21").files()
    plane = DataPlane(storage)
    v = plane.validate(_sel(digest))
    assert v.report.ok and v.dataset_digest == "d" * 64
    refs = {(t, s): r for t, s, r in v.pooled_refs}
    assert set(refs) == {("semantic", "dev"), ("semantic", "test")}
    # handed the params and the pooled vectors, the semantic scorer reads nothing of the submission
    monkeypatch.setattr("zrc.app.dataplane.open_submission", lambda *a, **k: pytest.fail("re-read the submission"))
    files = {}
    for set_ in ("dev", "test"):
        s = plane.score(_sel(digest, sets=[set_], tasks=["semantic"]), "semantic", SCORER_VERSION,
                        params=v.report.params, pooled_ref=refs[("semantic", set_)])
        files.update(s.files)
    monkeypatch.undo()
    # pairs tasks read their one score file; without params (validation skipped) the scorer reads params.yaml
    for task in ("lexical", "syntactic"):
        for set_ in ("dev", "test"):
            files.update(plane.score(_sel(digest, sets=[set_], tasks=[task]), task, SCORER_VERSION).files)
    # no pooled vectors (pruned): pooled again from the files, same bytes
    files2 = plane.score(_sel(digest, sets=["dev"], tasks=["semantic"]), "semantic", SCORER_VERSION).files
    assert files == core
    assert files2.items() <= core.items()


def test_pooled_ref_must_be_this_submissions(stored):
    storage, digest, _ = stored
    plane = DataPlane(storage)
    other = "f" * 64
    with pytest.raises(InvalidArgument, match="pooled_ref"):
        plane.score(_sel(digest, sets=["dev"], tasks=["semantic"]), "semantic", SCORER_VERSION,
                    params=Params(), pooled_ref=f"derived/{other}/pooled-{'0' * 64}.npz")
    with pytest.raises(InvalidArgument, match="exactly one set"):
        plane.score(_sel(digest, tasks=["semantic"]), "semantic", SCORER_VERSION)


def test_local_folders_hand_over_in_memory(stored, slm21_case, tmp_path):
    storage, _, sub = stored
    local = LocalFolders()
    ref, digest = local.register(sub)
    plane = DataPlane(storage, local=local)
    v = plane.validate(_sel(digest, sets=["dev"], tasks=["semantic"], local_ref=ref))
    ((_, _, pref),) = v.pooled_refs
    assert not storage.list(SUBMISSIONS, "derived/"), "nothing derived from a local folder lands in storage"
    s = plane.score(_sel(digest, sets=["dev"], tasks=["semantic"], local_ref=ref), "semantic", SCORER_VERSION,
                    params=v.report.params, pooled_ref=pref)
    core = evaluate(load_dataset(str(slm21_case[0])), DirTree(sub), "sLM21", sets=["dev"], tasks=["semantic"])
    assert s.files == core.files()
    assert local.take_pooled(pref) is None, "taken once: the scorer frees the vectors"


def test_skip_validation_scores_what_it_can_and_refuses_broken_params(stored, tmp_path):
    storage, _, sub = stored
    broken = tmp_path / "broken"
    shutil.copytree(sub, broken)
    (broken / "lexical/dev.txt").write_text("".join((broken / "lexical/dev.txt").read_text().splitlines(True)[1:]))
    local = LocalFolders()
    ref, digest = local.register(broken)
    plane = DataPlane(storage, local=local)
    sel = _sel(digest, sets=["dev"], tasks=["lexical"], local_ref=ref)
    with pytest.raises(NotScorable, match="missing_name"):
        plane.score(sel, "lexical", SCORER_VERSION)
    assert plane.score(sel, "lexical", SCORER_VERSION, skip_validation=True).files
    (broken / "params.yaml").write_text("semantic: [")
    ref, digest = local.register(broken)
    sel = _sel(digest, sets=["dev"], tasks=["lexical"], local_ref=ref)
    with pytest.raises(NotScorable, match="params_yaml"):
        plane.score(sel, "lexical", SCORER_VERSION, skip_validation=True)


def test_the_application_layer_has_no_transport():
    """zrc.app is what servicers call: it must import no grpc and no service package (scorers included)."""
    import subprocess
    import sys
    code = ("import sys, zrc.app.dataplane, zrc.app.selection, zrc.app.datasets; "
            "bad = [m for m in sys.modules if m == 'grpc' or m.split('.')[:2] in "
            "(['zrc', 'gateway'], ['zrc', 'validation'], ['zrc', 'scoring'], ['zrc', 'results'])]; "
            "print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_scorer_imports_no_other_service():
    import subprocess
    import sys
    code = ("import sys, zrc.scoring.server; "
            "bad = [m for m in sys.modules if m.split('.')[:2] in "
            "(['zrc', 'gateway'], ['zrc', 'validation'], ['zrc', 'results'])]; print(bad); sys.exit(bool(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.integration
def test_the_runner_hands_validations_work_to_the_scorers(slm21_case, tmp_path, monkeypatch):
    """End to end through the in-process stack: the semantic scorer scores from the vectors validation pooled
    (named in ValidateResponse.pooled, kept in the job, sent as ScoreRequest.pooled_ref) and parses no
    params.yaml (ScoreRequest.params); the score files are the core's, byte for byte."""
    from zrc.client import Client
    from zrc.embedded import Embedded

    dataset, sub = slm21_case
    core = evaluate(load_dataset(str(dataset)), DirTree(sub), "sLM21").files()

    def refuse(*a, **k):
        raise AssertionError("the scorer did it again")
    monkeypatch.setattr("zrc.app.dataplane.scan_semantic", refuse)
    monkeypatch.setattr("zrc.app.dataplane.read_params", refuse)
    emb = Embedded(tmp_path / "server").start()
    try:
        with Client(emb.address) as c:
            c.import_dataset(dataset, "sLM21-dataset")
            up = c.upload_folder(sub)
            job = c.wait(c.evaluate(up.digest, "sLM21"))
            assert job.state == 4, job.failure_reason
            files = {f.name: f.content for f in c.get_scores(job.job_id).files}
    finally:
        emb.close()
    assert {n: files[n] for n in core} == core


# jobs and publishing (zrc.app.jobs) over a fake Store: no transport, no servers ------------------------------
class FakeStore:
    """The results service, the validator and the scorers as zrc.app.jobs.Store sees them, in memory."""

    def __init__(self, validate=None):
        self.jobs: dict[str, object] = {}
        self.results: dict[str, object] = {}
        self.entries: dict[str, dict] = {}
        self.board: dict[str, list] = {}
        self.validations = 0
        self._validate = validate

    def put_job(self, job):
        self.jobs[job.job_id] = job

    def find_job(self, job_id):
        if job_id not in self.jobs:
            raise NotFound(f"job {job_id}")
        return self.jobs[job_id]

    def job_summaries(self):
        return [j.to_dict() for j in self.jobs.values()]

    def job_state(self, job_id):
        return self.jobs[job_id].state if job_id in self.jobs else None

    def validation_answer(self, key):
        return self.results.get(key)

    def keep_validation_answer(self, key, answer):
        self.results[key] = answer

    def published(self, benchmark):
        return [json.loads(json.dumps(e)) for e in self.board.get(benchmark, [])]

    def put_entry(self, job_id, entry):
        self.entries[job_id] = entry

    def publish_entry(self, benchmark, entry_id, entry):
        board = [e for e in self.board.get(benchmark, []) if e["zrc"]["entry_id"] != entry_id]
        self.board[benchmark] = [*board, json.loads(json.dumps(entry))]

    def scorer_version(self, scorer):
        return "1"

    def validate(self, sel):
        self.validations += 1
        return self._validate(sel)


@pytest.fixture()
def service(stored):
    """A JobService over the stored submission (owned by alice), real Auth rules, a fake Store."""
    storage, digest, _ = stored
    plane = DataPlane(storage)

    def validate(sel):
        v = plane.validate(sel)
        return validation_pb2.ValidateResponse(ok=v.report.ok, dataset_digest=v.dataset_digest)
    store = FakeStore(validate)
    auth = Auth(storage, required=True, admin_token="a" * 16, quota_per_day=0)
    auth.add_owner(digest, Identity("alice", False))
    submitted: list[str] = []
    return JobService(store, auth, submitted.append, storage), store, digest, submitted


def _msg(digest: str, **kw):
    return common_pb2.Selection(submission_digest=digest, benchmark=kw.pop("benchmark", "sLM21"), **kw)


def test_zrc_submit_validates_once_for_the_check_and_the_job(service):
    """ValidateSubmission's answer is the one the job's runner looks up: the archive is read once."""
    jobsvc, store, digest, submitted = service
    alice = Identity("alice", False)
    assert jobsvc.validate(_msg(digest, benchmark="slm21"), alice).ok and store.validations == 1
    assert jobsvc.validate(_msg(digest), alice).ok and store.validations == 1, "asked again: the kept answer"
    job, _ = jobsvc.create(_msg(digest), alice, publish=True, baseline=False, skip_validation=False)
    assert submitted == [job.job_id] and job.owner == "alice" and job.dataset_digest == "d" * 64
    v = cached_validation(store, selection_from_dict(job.selection), job.dataset_digest)
    assert v is not None and v.ok, "the runner finds it: no second validation"
    with pytest.raises(PermissionDenied, match="another user"):
        jobsvc.validate(_msg(digest), Identity("bob", False))


def test_evaluate_rules(service):
    jobsvc, store, digest, submitted = service
    alice = Identity("alice", False)
    with pytest.raises(InvalidArgument, match="every set and task"):
        jobsvc.create(_msg(digest, sets=["dev"]), alice, publish=True, baseline=False, skip_validation=False)
    with pytest.raises(PermissionDenied, match="admin"):
        jobsvc.create(_msg(digest), alice, publish=True, baseline=True, skip_validation=False)
    with pytest.raises(NotFound, match="not uploaded"):
        jobsvc.create(_msg("e" * 64), alice, publish=False, baseline=False, skip_validation=False)
    jobsvc.require_raw = True   # a raw archive may be published
    job, s = jobsvc.create(_msg(digest, sets=["dev"]), alice, publish=False, baseline=False, skip_validation=True)
    assert job.selection["sets"] == ["dev"] and s.tasks == ["lexical", "syntactic", "semantic"]
    assert not store.validations and submitted == [job.job_id], "creating a job reads no submission file"


def test_job_pages_and_score_states(service):
    jobsvc, store, digest, _ = service
    alice, admin = Identity("alice", False), Identity("admin", True)
    made = [jobs.Job.new({"submission_digest": digest, "benchmark": "sLM21"}, False, owner=o)
            for o in ("alice", "bob", "alice", "alice")]
    for i, j in enumerate(made):
        j.created_at = f"2026-01-0{i + 1}T00:00:00+00:00"
        store.put_job(j)
    page, token = jobsvc.page(alice, 2, "")
    rest, end = jobsvc.page(alice, 2, token)
    assert [d["job_id"] for d in page + rest] == [made[0].job_id, made[2].job_id, made[3].job_id] and not end
    assert len(jobsvc.page(admin, 0, "")[0]) == 4
    with pytest.raises(InvalidArgument, match="page_size"):
        jobsvc.page(alice, -1, "")
    with pytest.raises(InvalidArgument, match="page_token"):
        jobsvc.page(alice, 2, "nonsense")
    with pytest.raises(PermissionDenied, match="another user"):
        jobsvc.own(made[1].job_id, alice)
    job = made[0]
    with pytest.raises(FailedPrecondition, match="not finished yet"):
        jobsvc.require_scores(job)
    job.findings = [{"severity": "error", "code": "missing_file", "message": "no lexical/dev.txt",
                     "file": "lexical/dev.txt", "line": None}]
    job.move(jobs.INVALID, "invalid")
    with pytest.raises(InvalidArgument, match="found the submission invalid") as exc:
        jobsvc.require_scores(job)
    assert exc.value.violations == [("lexical/dev.txt", "no lexical/dev.txt [missing_file]")]


def test_a_resubmission_replaces_the_owners_entry(service):
    _, store, digest, _ = service
    publisher = Publisher(store)
    sel = selection_from_dict({"submission_digest": digest, "benchmark": "sLM21", "dataset": "sLM21-dataset",
                               "sets": ["dev", "test"], "tasks": ["lexical", "syntactic", "semantic"]})
    ids = []
    for owner in ("alice", "alice", "bob"):
        job = jobs.Job.new(selection_to_dict(sel), False, owner=owner, publish=True)
        job.meta_json = json.dumps({"model_info": {"model_id": "<model id>"}})
        entry = publisher.entry(job, "sLM21", [], Params())
        assert len(job.model_id) == 16, "a published job gets a model_id"
        publisher.publish(job, sel, entry, [], {"lexical": "1"})
        assert store.entries[job.job_id] is entry, "every job's own entry is stored"
        ids.append(entry["zrc"]["entry_id"])
    assert ids[1] == ids[0] != ids[2], "same archive, same owner: replaced; another owner: a new entry"
    assert len(store.board["sLM21"]) == 2
