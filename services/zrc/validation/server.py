"""Validation service: the core's findings for a stored submission against a stored dataset."""

from __future__ import annotations

import json

import structlog

from zrc.common import runtime
from zrc.common.data import DatasetCache, finding_to_pb, open_submission, pooled_key, save_pooled
from zrc.core.benchmarks import get_benchmark
from zrc.core.params import default_params
from zrc.core.pipeline import SelectionError, select
from zrc.core.sources import SourceError
from zrc.core.validation import rejected, validate
from zrc.pb.validation.v1 import validation_pb2, validation_pb2_grpc
from zrc.storage import Storage

log = structlog.get_logger("zrc.validation")


def resolve(selection, datasets: DatasetCache):
    """Benchmark, dataset (+digest), sets and tasks of a Selection; bad values -> SelectionError."""
    bench = get_benchmark(selection.benchmark)
    sets, tasks = select(bench, list(selection.sets) or None, list(selection.tasks) or None)
    dataset, digest = datasets.get(selection.dataset or bench.dataset)
    if dataset.benchmark.name != bench.name:
        raise SelectionError(f"dataset {dataset.name} is a {dataset.benchmark.name} dataset, not {bench.name}")
    return bench, dataset, digest, sets, tasks


class ValidationServicer(validation_pb2_grpc.ValidationServiceServicer):
    def __init__(self, storage: Storage, datasets: DatasetCache | None = None, local=None):
        self.storage = storage
        self.datasets = datasets or DatasetCache(storage)
        self.local = local   # LocalFolders of the embedded stack; None on a server (local refs refused)

    def Validate(self, request, context):
        sel = request.selection
        structlog.contextvars.bind_contextvars(submission=sel.submission_digest[:12])
        bench, dataset, digest, sets, tasks = resolve(sel, self.datasets)
        try:
            tree = open_submission(self.storage, sel.submission_digest, sel.local_ref, self.local)
        except SourceError as exc:   # refused as a whole (not a zip, over a limit): the user's error, a finding
            tree = None
            report = rejected(exc, default_params(bench.name))
        if tree is not None:
            try:
                report = validate(dataset, tree, bench, sets, tasks)
            finally:
                tree.close()
        for (_, set_), pooled in report.pooled.items():
            # hand the pooled embeddings to the semantic scorer: it need not read every file again
            key = pooled_key(sel.submission_digest, digest, set_, report.params.cache_key())
            if sel.local_ref:   # same process: in memory, nothing derived from the folder lands in ZRC_HOME
                self.local.put_pooled(key, pooled)
            else:
                save_pooled(self.storage, key, pooled)
        log.info("validated", ok=report.ok, findings=len(report.findings))
        return validation_pb2.ValidateResponse(
            ok=report.ok, findings=[finding_to_pb(f) for f in report.findings.items],
            params_json=report.params.to_json(), meta_json=json.dumps(report.meta, default=str),
            dataset_digest=digest)


def register(storage: Storage, datasets: DatasetCache | None = None, local=None):
    def reg(server) -> list[str]:
        validation_pb2_grpc.add_ValidationServiceServicer_to_server(ValidationServicer(storage, datasets, local),
                                                                    server)
        return [validation_pb2.DESCRIPTOR.services_by_name["ValidationService"].full_name]
    return reg


def main(env: dict[str, str] | None = None) -> None:
    runtime.run_service("validation", lambda storage, _env: {"register": register(storage)}, env,
                        internal=True)
