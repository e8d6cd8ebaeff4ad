"""Scoring service: one definition, deployed once per scorer of the catalogue (ZRC_SCORER_TASK = one of
zrc.core.benchmarks.SCORERS). Scores one (task, set) of a stored submission per call.

The work is :meth:`zrc.app.dataplane.DataPlane.score`; this servicer only translates messages. It imports no
other service: the params and pooled vectors validation prepared arrive in the ScoreRequest.
"""

from __future__ import annotations

import os

import structlog

from zrc.app.dataplane import DataPlane
from zrc.app.datasets import DatasetCache
from zrc.common import metrics, runtime
from zrc.common.convert import params_py, summary_pb
from zrc.core import SCORER_VERSION
from zrc.core.benchmarks import SCORERS, scorer_task
from zrc.pb.common.v1 import common_pb2
from zrc.pb.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from zrc.storage import Storage

log = structlog.get_logger("zrc.scoring")


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(self, storage: Storage, scorer: str, version: str = SCORER_VERSION,
                 datasets: DatasetCache | None = None, local=None):
        self.plane = DataPlane(storage, datasets, local)
        self.task = scorer_task(scorer).name
        self.version = version

    def Describe(self, request, context):
        return scoring_pb2.DescribeResponse(scorer_version=self.version)

    def Score(self, request, context):
        sel = request.selection
        structlog.contextvars.bind_contextvars(submission=sel.submission_digest[:12])
        s = self.plane.score(sel, self.task, self.version,
                             params=params_py(request.params) if request.HasField("params") else None,
                             pooled_ref=request.pooled_ref, skip_validation=request.skip_validation,
                             result_key=request.result_key)
        if not request.result_key:
            self._count(context, sel.sets[0])
        elif not s.stored_before:   # of two calls scoring the same part, the one that stored it counts it
            (metrics.ABANDONED_PARTS if s.lost_race else metrics.SCORED_PARTS).labels(self.task, sel.sets[0]).inc()
        return scoring_pb2.ScoreResponse(
            files=[common_pb2.File(name=n, content=c) for n, c in s.files.items()],
            summary=summary_pb(s.summary), scorer_version=s.scorer_version, stored=s.stored)

    def _count(self, context, set_: str) -> None:
        """Without a result key (an older gateway), a part counts when it is delivered: if the caller went
        away, the gateway that takes the job over asks again, and that delivery is the one counted."""
        (metrics.SCORED_PARTS if context.is_active() else metrics.ABANDONED_PARTS).labels(self.task, set_).inc()


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
        if scorer_task(scorer).kind == "semantic":   # scipy's distances (rarer metrics): ~1 s to import, paid at start
            import scipy.spatial.distance  # noqa: F401
        structlog.contextvars.bind_contextvars(scorer=scorer, scorer_version=version)
        return {"register": register(storage, scorer, version)}

    runtime.run_service(f"scoring-{scorer}", make, env, internal=True)
