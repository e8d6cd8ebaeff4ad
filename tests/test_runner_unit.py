"""The gateway's job runner end to end over in-process fakes: no channel, no server, no subprocess.

Results is the real results servicer over a local directory (job records, compare-and-set, cached parts and
entries as in production), called without a transport; validation and the scorer are fakes that answer
what a test scripts: a valid or an invalid submission, a scorer that is restarting and comes back, one that
fails for good. The scorer's answer is a real summary, computed by the core from a generated case.
"""

from __future__ import annotations

import json

import grpc
import pytest

from zrc.common.convert import params_pb, summary_pb, summary_py
from zrc.common.data import finding_to_pb
from zrc.core import jobs
from zrc.core.dataset import load_dataset
from zrc.core.leaderboard import summarize
from zrc.core.params import Params
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree
from zrc.gateway.runner import Clients, Runner, RunnerSettings
from zrc.pb.results.v1 import results_pb2
from zrc.pb.scoring.v1 import scoring_pb2
from zrc.pb.validation.v1 import validation_pb2
from zrc.results.server import ResultsServicer
from zrc.storage import RESULTS
from zrc.storage.local import LocalStorage

from .fakes import DirectStub, FakeError

SEL = {"submission_digest": "b" * 64, "benchmark": "prosAudit", "dataset": "prosaudit-dataset", "sets": ["dev"],
       "tasks": ["english"]}
REFUSED = FakeError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; Connection refused")


@pytest.fixture(scope="module")
def summary(prosaudit_case) -> str:
    """What a real english scorer returns for the dev set of the generated case."""
    dataset = load_dataset(str(prosaudit_case[0]))
    ev = evaluate(dataset, DirTree(prosaudit_case[1]), "prosAudit", sets=["dev"], tasks=["english"])
    assert ev.ok
    return json.dumps(summarize(ev.results[0], dataset))


class Script:
    """A fake stub method: answers (or raises) its outcomes in order, the last one for ever after."""

    def __init__(self, *outcomes):
        self.outcomes, self.requests = list(outcomes), []

    def __call__(self, request, timeout=None):
        self.requests.append(request)
        out = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(out, Exception):
            raise out
        return out


class FakeScorer:
    def __init__(self, *outcomes):
        self.Score = Script(*outcomes)  # noqa: N815 - the stub's method name

    def Describe(self, request, timeout=None):  # noqa: N802
        return scoring_pb2.DescribeResponse(scorer_version="7")


class FakeValidation:
    def __init__(self, *outcomes):
        self.Validate = Script(*outcomes)  # noqa: N815


class InProcessClients(Clients):
    """The runner's Clients (retries, deadlines, job compare-and-set) over in-process stubs."""

    def __init__(self, settings: RunnerSettings, storage: LocalStorage, validation, scorer):
        self.s, self.validation, self.scorers = settings, validation, {"prosaudit": scorer}
        self.results = DirectStub(ResultsServicer(storage))


def validated(ok: bool = True, findings=()) -> validation_pb2.ValidateResponse:
    return validation_pb2.ValidateResponse(ok=ok, findings=[finding_to_pb(f) for f in findings],
                                           params=params_pb(Params(benchmark="prosAudit")), dataset_digest="d" * 64)


def scored(summary: str) -> scoring_pb2.ScoreResponse:
    return scoring_pb2.ScoreResponse(summary=summary_pb(json.loads(summary)), scorer_version="7")


BAD_LINE = {"severity": "error", "code": "bad_score", "message": "not a number", "file": "english_dev.txt",
            "line": 3}


def run(tmp_path, validation, scorer, skip_validation=False, **settings):
    storage = LocalStorage(tmp_path / "store")
    storage.ensure_buckets()
    s = RunnerSettings(retry_budget=settings.pop("retry_budget", 10.0), **settings)
    c = InProcessClients(s, storage, validation, scorer)
    job = jobs.Job.new(dict(SEL), skip_validation)
    c.put_job(job)
    Runner(c, s, owner="gw1").run(job.job_id)
    return c.get_job(job.job_id), c, storage


def states(job: jobs.Job) -> list[str]:
    return list(dict.fromkeys(e["state"] for e in job.events))


def test_a_valid_submission_is_scored_stored_and_succeeds(tmp_path, summary):
    done, c, storage = run(tmp_path, FakeValidation(validated()), FakeScorer(scored(summary)))
    assert done.state == jobs.SUCCEEDED and not done.findings
    assert states(done) == [jobs.QUEUED, jobs.VALIDATING, jobs.SCORING, jobs.SUCCEEDED]
    assert done.parts == [["english", "dev"]] and list(done.done) == ["english dev"]
    assert done.lease_owner == "" and done.revision >= len(done.events), "every event was written"
    part = c.results.GetResult(results_pb2.GetResultRequest(key=done.done["english dev"])).result
    assert summary_py(part.summary) == json.loads(summary) and part.scorer_version == "7"
    entry = json.loads(storage.get_bytes(RESULTS, f"entries/{done.job_id}.json"))
    assert entry["scores"] and entry["submission_id"] == done.job_id
    assert storage.list(RESULTS, "open/") == [], "a final job is not listed as unfinished"


def test_an_invalid_submission_ends_invalid_with_its_findings_and_is_never_scored(tmp_path, summary):
    scorer = FakeScorer(scored(summary))
    done, _, _ = run(tmp_path, FakeValidation(validated(ok=False, findings=[BAD_LINE])), scorer)
    assert done.state == jobs.INVALID and states(done) == [jobs.QUEUED, jobs.VALIDATING, jobs.INVALID]
    assert done.findings == [BAD_LINE] and not scorer.Score.requests and not done.failure_reason


def test_skip_validation_scores_an_invalid_submission_and_keeps_its_findings(tmp_path, summary):
    scorer = FakeScorer(scored(summary))
    done, _, _ = run(tmp_path, FakeValidation(validated(ok=False, findings=[BAD_LINE])), scorer,
                     skip_validation=True)
    assert done.state == jobs.SUCCEEDED and done.findings == [BAD_LINE]
    assert [r.skip_validation for r in scorer.Score.requests] == [True], "the scorer is told to skip too"


def test_a_scorer_that_is_restarting_is_retried_until_it_answers(tmp_path, summary):
    scorer = FakeScorer(REFUSED, REFUSED, scored(summary))
    done, _, _ = run(tmp_path, FakeValidation(validated()), scorer)
    assert done.state == jobs.SUCCEEDED and len(scorer.Score.requests) == 3
    assert done.starts == {"validation": 0, "scoring english": 0}, "calls that never connected are no crash"


def test_a_scorer_that_stays_unavailable_fails_the_job_after_the_retry_budget(tmp_path, summary):
    done, _, _ = run(tmp_path, FakeValidation(validated()), FakeScorer(REFUSED), retry_budget=0.6)
    assert done.state == jobs.FAILED and "stayed unavailable" in done.failure_reason
    assert done.events[-1]["state"] == jobs.FAILED and done.lease_owner == ""


def test_a_permanent_scorer_error_fails_the_job_at_once(tmp_path, summary):
    scorer = FakeScorer(FakeError(grpc.StatusCode.INTERNAL, "internal error (see the server log)"))
    done, _, _ = run(tmp_path, FakeValidation(validated()), scorer)
    assert done.state == jobs.FAILED and len(scorer.Score.requests) == 1
    assert done.failure_reason.startswith("INTERNAL: internal error")
