"""A Python client of the gateway: what the CLI and the tests use.

Submissions travel as one deterministic zip (sorted members, fixed timestamps,
``scores/`` and hidden files left out) so the same folder always has the same
digest and is never stored twice. Bytes are streamed in 1 MiB chunks after a
metadata message carrying the size and sha256.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc

from zrc.common.runtime import CHUNK, channel
from zrc.common.v1 import common_pb2
from zrc.core.dataset import gold_files
from zrc.core.sources import open_tree
from zrc.gateway.v1 import gateway_pb2, gateway_pb2_grpc

STORED_EXT = (".npy", ".zip")
_DATE = (2020, 1, 1, 0, 0, 0)


def build_archive(folder: str | Path, dest: str | Path) -> None:
    """Zip a submission folder deterministically (members sorted, fixed times)."""
    folder = Path(folder)
    with zipfile.ZipFile(dest, "w") as z:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(root) == folder and d == "scores"))
            for f in sorted(files):
                if f.startswith("."):
                    continue
                p = Path(root) / f
                rel = p.relative_to(folder).as_posix()
                info = zipfile.ZipInfo(rel, date_time=_DATE)
                info.compress_type = zipfile.ZIP_STORED if f.endswith(STORED_EXT) else zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with open(p, "rb") as src, z.open(info, "w") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)


def build_gold_archive(source: str | Path, dest: str | Path) -> None:
    """Zip only the files evaluation needs of an official dataset folder or zip."""
    tree = open_tree(source)
    try:
        _, files = gold_files(tree)
    finally:
        tree.close()
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in sorted(files):
            z.writestr(zipfile.ZipInfo(rel, date_time=_DATE), files[rel], compress_type=zipfile.ZIP_DEFLATED)


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _chunks(path: Path, first, on_bytes: Callable[[int], None] | None) -> Iterator:
    yield first
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk
            if on_bytes:
                on_bytes(len(chunk))


class Client:
    def __init__(self, address: str, token: str | None = None, timeout: float = 3600.0):
        self.address = address
        self.channel = channel(address)
        self.stub = gateway_pb2_grpc.GatewayServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, fn, request, timeout: float = 60.0):
        return fn(request, timeout=timeout, metadata=self.metadata)

    def upload_archive(self, path: str | Path, on_bytes: Callable[[int], None] | None = None):
        path = Path(path)
        digest, size = _sha256(path)
        meta = gateway_pb2.UploadSubmissionRequest(
            metadata=gateway_pb2.UploadMetadata(sha256=digest, size=size, filename=path.name))
        reqs = (m if isinstance(m, gateway_pb2.UploadSubmissionRequest) else gateway_pb2.UploadSubmissionRequest(chunk=m)
                for m in _chunks(path, meta, on_bytes))
        return self.stub.UploadSubmission(reqs, timeout=self.timeout, metadata=self.metadata)

    def upload_folder(self, folder: str | Path, on_bytes: Callable[[int], None] | None = None,
                      tmpdir: str | None = None):
        with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
            archive = Path(tmp) / "submission.zip"
            build_archive(folder, archive)
            return self.upload_archive(archive, on_bytes)

    def import_dataset(self, source: str | Path, name: str):
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "gold.zip"
            build_gold_archive(source, archive)
            digest, size = _sha256(archive)
            meta = gateway_pb2.ImportDatasetRequest(
                metadata=gateway_pb2.DatasetMetadata(name=name, sha256=digest, size=size))
            reqs = (m if isinstance(m, gateway_pb2.ImportDatasetRequest) else gateway_pb2.ImportDatasetRequest(chunk=m)
                    for m in _chunks(archive, meta, None))
            return self.stub.ImportDataset(reqs, timeout=self.timeout, metadata=self.metadata)

    def list_datasets(self):
        return self._call(self.stub.ListDatasets, gateway_pb2.ListDatasetsRequest()).datasets

    def evaluate(self, digest: str, benchmark: str, *, dataset: str = "", sets=(), tasks=(),
                 skip_validation: bool = False) -> str:
        sel = common_pb2.Selection(submission_digest=digest, benchmark=benchmark, dataset=dataset,
                                   sets=list(sets or []), tasks=list(tasks or []))
        return self._call(self.stub.Evaluate, gateway_pb2.EvaluateRequest(selection=sel,
                                                                         skip_validation=skip_validation)).job_id

    def watch(self, job_id: str, after_seq: int = -1, timeout: float | None = None) -> Iterator:
        """Events of a job until it ends; reconnects if the gateway restarts in between."""
        seen = after_seq
        while True:
            try:
                for msg in self.stub.WatchJob(gateway_pb2.WatchJobRequest(job_id=job_id, after_seq=seen),
                                              timeout=timeout or self.timeout, metadata=self.metadata):
                    if msg.HasField("event"):
                        seen = msg.event.seq
                    yield msg
                    if msg.HasField("job"):
                        return
                return
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                import time
                time.sleep(0.5)

    def wait(self, job_id: str, timeout: float | None = None):
        last = None
        for msg in self.watch(job_id, timeout=timeout):
            if msg.HasField("job"):
                last = msg.job
        return last if last is not None else self.get_job(job_id)

    def get_job(self, job_id: str):
        return self._call(self.stub.GetJob, gateway_pb2.GetJobRequest(job_id=job_id)).job

    def list_jobs(self):
        return self._call(self.stub.ListJobs, gateway_pb2.ListJobsRequest()).jobs

    def get_scores(self, job_id: str):
        return self._call(self.stub.GetScores, gateway_pb2.GetScoresRequest(job_id=job_id), timeout=300.0)
