"""Validation service: the core's findings for a stored submission against a stored dataset.

The work is :meth:`zrc.app.dataplane.DataPlane.validate`; this servicer only translates messages.
"""

from __future__ import annotations

import structlog

from zrc.app.dataplane import DataPlane
from zrc.app.datasets import DatasetCache
from zrc.common import runtime
from zrc.common.convert import meta_pb, params_pb
from zrc.common.data import finding_to_pb
from zrc.pb.validation.v1 import validation_pb2, validation_pb2_grpc
from zrc.storage import Storage

log = structlog.get_logger("zrc.validation")


class ValidationServicer(validation_pb2_grpc.ValidationServiceServicer):
    def __init__(self, storage: Storage, datasets: DatasetCache | None = None, local=None):
        self.plane = DataPlane(storage, datasets, local)

    def Validate(self, request, context):
        sel = request.selection
        structlog.contextvars.bind_contextvars(submission=sel.submission_digest[:12])
        v = self.plane.validate(sel)
        report = v.report
        log.info("validated", ok=report.ok, findings=len(report.findings))
        return validation_pb2.ValidateResponse(
            ok=report.ok, findings=[finding_to_pb(f) for f in report.findings.items],
            params=params_pb(report.params), meta=meta_pb(report.meta), dataset_digest=v.dataset_digest,
            pooled=[validation_pb2.PooledRef(task=t, set=s, ref=r) for t, s, r in v.pooled_refs])


def register(storage: Storage, datasets: DatasetCache | None = None, local=None):
    def reg(server) -> list[str]:
        validation_pb2_grpc.add_ValidationServiceServicer_to_server(ValidationServicer(storage, datasets, local),
                                                                    server)
        return [validation_pb2.DESCRIPTOR.services_by_name["ValidationService"].full_name]
    return reg


def main(env: dict[str, str] | None = None) -> None:
    runtime.run_service("validation", lambda storage, _env: {"register": register(storage)}, env,
                        internal=True)
