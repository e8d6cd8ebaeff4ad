"""Scoring service: one definition, deployed once per task (ZRC_SCORER_TASK = lexical, syntactic,
semantic or prosaudit). Scores one (task, set) of a stored submission per call."""

from __future__ import annotations

import json
import os

import grpc
import structlog

from zrc.common import metrics, runtime
from zrc.common.data import (
    DatasetCache,
    decode_result,
    encode_result,
    finding_to_pb,
    load_pooled,
    open_submission,
    pooled_key,
    result_object,
)
from zrc.core import SCORER_VERSION
from zrc.core.leaderboard import summarize
from zrc.core.pipeline import evaluate
from zrc.core.scoring import score_semantic
from zrc.core.validation import read_params
from zrc.pb.common.v1 import common_pb2
from zrc.pb.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from zrc.storage import RESULTS, NotFound, Storage
from zrc.validation.server import resolve

log = structlog.get_logger("zrc.scoring")
SCORERS = {"lexical": "lexical", "syntactic": "syntactic", "semantic": "semantic", "prosaudit": "english"}


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(self, storage: Storage, scorer: str, version: str = SCORER_VERSION,
                 datasets: DatasetCache | None = None, local=None):
        self.storage = storage
        self.local = local   # LocalFolders of the embedded stack; None on a server (local refs refused)
        self.task = SCORERS[scorer]
        self.version = version
        self.datasets = datasets or DatasetCache(storage)

    def Describe(self, request, context):
        return scoring_pb2.DescribeResponse(tasks=[self.task], scorer_version=self.version)

    def Score(self, request, context):
        sel = request.selection
        structlog.contextvars.bind_contextvars(submission=sel.submission_digest[:12])
        if list(sel.tasks) != [self.task] or len(sel.sets) != 1:
            raise runtime.Abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"this scorer scores exactly one set of task {self.task!r}")
        key = request.result_key
        if not key:
            response = self._score(request, context)
            self._count(context, sel.sets[0])
            return response
        try:   # asked again (a gateway took the job over): the part was scored and stored already
            d = decode_result(self.storage.get_bytes(RESULTS, result_object(key)))
            log.info("scored", task=self.task, set=sel.sets[0], stored_before=True)
            return scoring_pb2.ScoreResponse(
                files=[common_pb2.File(name=n, content=c.encode()) for n, c in d["files"].items()],
                summary_json=d["summary_json"], scorer_version=d["scorer_version"], stored=True)
        except NotFound:
            pass
        response = self._score(request, context)
        d = {"key": key, "task": self.task, "set": sel.sets[0], "summary_json": response.summary_json,
             "scorer_version": response.scorer_version,
             "files": {f.name: f.content.decode() for f in response.files}}
        # Create-only: of two calls scoring the same part (a gateway died mid-call and another asked again),
        # one stores it and counts it. Durable before it is answered, so a lost answer costs no re-scoring.
        if self.storage.put_if_absent(RESULTS, result_object(key), encode_result(d)):
            metrics.SCORED_PARTS.labels(self.task, sel.sets[0]).inc()
        else:
            metrics.ABANDONED_PARTS.labels(self.task, sel.sets[0]).inc()
        response.stored = True
        return response

    def _score(self, request, context) -> scoring_pb2.ScoreResponse:
        sel = request.selection
        bench, dataset, ds_digest, sets, tasks = resolve(sel, self.datasets)
        tree = open_submission(self.storage, sel.submission_digest, sel.local_ref, self.local)
        try:
            result = self._from_pooled(tree, bench.name, dataset, ds_digest, sel, sets[0])
            if result is not None:
                log.info("scored", task=self.task, set=sets[0], pooled_cache=True)
                return self._response(result, dataset, [])
            ev = evaluate(dataset, tree, bench.name, sets=sets, tasks=tasks, skip_validation=request.skip_validation)
        finally:
            tree.close()
        if not ev.ok:
            first = next((f for f in ev.findings if f.severity == "error"), None)
            raise runtime.Abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"submission invalid for {self.task} {sets[0]}: {first or 'nothing to score'}")
        (result,) = ev.results
        log.info("scored", task=self.task, set=sets[0])
        return self._response(result, dataset, ev.findings)

    def _count(self, context, set_: str) -> None:
        """Without a result key (an older gateway), a part counts when it is delivered: if the caller went
        away, the gateway that takes the job over asks again, and that delivery is the one counted."""
        (metrics.SCORED_PARTS if context.is_active() else metrics.ABANDONED_PARTS).labels(self.task, set_).inc()

    def _from_pooled(self, tree, bench: str, dataset, ds_digest: str, sel, set_: str):
        """Semantic only: score from the vectors the validation service pooled, if it left them."""
        if self.task != "semantic":
            return None
        params, pf = read_params(tree, bench)
        if not pf.ok:
            return None
        key = pooled_key(sel.submission_digest, ds_digest, set_, params.cache_key())
        pooled = self.local.take_pooled(key) if sel.local_ref else load_pooled(self.storage, key)
        if pooled is None:
            return None
        return score_semantic(dataset.gold("semantic", set_), pooled, params)

    def _response(self, result, dataset, findings) -> scoring_pb2.ScoreResponse:
        return scoring_pb2.ScoreResponse(
            files=[common_pb2.File(name=n, content=c) for n, c in result.files().items()],
            summary_json=json.dumps(summarize(result, dataset), allow_nan=False),
            scorer_version=self.version, findings=[finding_to_pb(f) for f in findings])


def register(storage: Storage, scorer: str, version: str = SCORER_VERSION, datasets: DatasetCache | None = None,
             local=None):
    def reg(server) -> list[str]:
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server(
            ScoringServicer(storage, scorer, version, datasets, local), server)
        return [scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name]
    return reg


def main(env: dict[str, str] | None = None) -> None:
    scorer = (env if env is not None else os.environ).get("ZRC_SCORER_TASK", "")
    if scorer not in SCORERS:
        runtime.configure_logging("scoring")
        raise runtime.ConfigError(f"ZRC_SCORER_TASK must be one of {', '.join(SCORERS)}, got {scorer!r}")

    def make(storage: Storage, env: dict[str, str]) -> dict:
        # The scorer version keys cached results: set ZRC_SCORER_VERSION (e.g. to the image digest) to force
        # re-scoring after a deployment; by default it is the evaluation core's SCORER_VERSION.
        version = env.get("ZRC_SCORER_VERSION") or SCORER_VERSION
        if scorer == "semantic":   # scipy's distances (rarer metrics) cost ~1 s to import: paid at start, not per job
            import scipy.spatial.distance  # noqa: F401
        structlog.contextvars.bind_contextvars(scorer=scorer, scorer_version=version)
        return {"register": register(storage, scorer, version)}

    runtime.run_service(f"scoring-{scorer}", make, env, internal=True)
