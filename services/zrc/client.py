"""A Python client of the gateway: what the CLI and the tests use.

Submissions travel as one deterministic zip (sorted members, fixed timestamps,
``scores/`` and hidden files left out) so the same folder always has the same
digest and is never stored twice. Bytes are streamed in 4 MiB chunks after a
metadata message carrying the size and sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from zrc.common import channel
from zrc.common.channel import CHUNK, CLIENT_OPTIONS
from zrc.core.findings import Findings
from zrc.core.limits import Limits, excerpt, limits
from zrc.core.sources import (
    SourceError,
    SubmissionDirTree,
    check_regular,
    excluded_from_submission,
    open_tree,
)
from zrc.lazy import lazy_module
from zrc.pb.common.v1 import common_pb2
from zrc.pb.gateway.v1 import gateway_pb2, gateway_pb2_grpc

if TYPE_CHECKING:
    from zrc.common.local import LocalFolders
    from zrc.core import dataset, validation
    from zrc.core import pooled as pooled_
else:   # numpy: loaded when a submission is pooled or a dataset zipped, not by a command that only reads
    dataset = lazy_module("zrc.core.dataset")
    validation = lazy_module("zrc.core.validation")
    pooled_ = lazy_module("zrc.core.pooled")

STORED_EXT = (".npy", ".zip")
# Deflate level of the text members (score files, yaml): level 1 takes half the time of the default 6 for a few
# per cent more bytes, and the bytes are sent once over a link faster than level 6 compresses (~17 MB/s).
TEXT_LEVEL = 1


def _fast(info: zipfile.ZipInfo) -> None:
    """Deflate ``info`` at TEXT_LEVEL: ``compress_level`` since Python 3.13, the same slot as ``_compresslevel``
    before (what ``ZipFile.open(info, "w")`` reads; it has no level argument)."""
    setattr(info, "compress_level" if hasattr(zipfile.ZipInfo, "compress_level") else "_compresslevel", TEXT_LEVEL)

# Calls that only read (or validate, which has no side effect) are retried by gRPC itself when the gateway is
# momentarily UNAVAILABLE (a restart, a rolling update): the service config's retryPolicy, not a loop of ours.
# Evaluate, uploads and admin calls are not: repeating them is not harmless.
IDEMPOTENT = ("GetUpload", "ListDatasets", "ValidateSubmission", "GetJob", "ListJobs", "GetScores",
              "GetLeaderboard", "WhoAmI")
RETRY_POLICY = {"maxAttempts": 5, "initialBackoff": "0.25s", "maxBackoff": "4s", "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"]}
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{"name": [{"service": "zrc.gateway.v1.GatewayService", "method": m} for m in IDEMPOTENT],
                      "retryPolicy": RETRY_POLICY}],
}
# How long a watch keeps reconnecting to a gateway that went away before giving up (the job goes on anyway).
RECONNECT_SECONDS = 300.0
# Stream errors that mean "the connection broke", not "the server said no".
_DROPPED = ("UNAVAILABLE", "INTERNAL", "UNKNOWN", "CANCELLED")


def client_channel(address: str, *, token: bool = False, ca_file: str | None = None,
                   allow_plaintext: bool = False) -> grpc.Channel:
    """A channel to the gateway (TLS for grpcs://, see zrc.common.channel) whose idempotent unary calls retry on
    UNAVAILABLE (see SERVICE_CONFIG)."""
    options = [(k, v) for k, v in CLIENT_OPTIONS if k != "grpc.service_config"]
    options += [("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(SERVICE_CONFIG))]
    return channel.client_channel(address, options, token=token, ca_file=ca_file, allow_plaintext=allow_plaintext)

_FINAL = (gateway_pb2.JOB_STATE_SUCCEEDED, gateway_pb2.JOB_STATE_INVALID, gateway_pb2.JOB_STATE_FAILED)
_DATE = (2020, 1, 1, 0, 0, 0)


def build_archive(folder: str | Path, dest: str | Path) -> None:
    """Zip a submission folder deterministically (members sorted, fixed times).

    What the server would refuse is refused here first, with the file named: names that are not UTF-8
    (zip cannot carry them), anything but regular files (a FIFO blocks, a link to /dev/zero never ends),
    more files or bigger files than the limits allow.
    """
    folder = Path(folder)
    lim = limits()
    count = 0
    with zipfile.ZipFile(dest, "w") as z:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(root) == folder and d == "scores"))
            for f in sorted(files):
                p = Path(root) / f
                rel = p.relative_to(folder).as_posix()
                if excluded_from_submission(rel):   # the same files the embedded mode leaves out in place
                    continue
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                    raise SourceError(f"{excerpt(shown)}: the file name is not valid UTF-8; rename it") from None
                if len(rel) > lim.name_chars:
                    raise SourceError(f"{excerpt(rel)}: a file name of {len(rel)} characters "
                                      f"(limit {Limits.setting('name_chars')}={lim.name_chars})")
                check_regular(p, rel)
                if p.stat().st_size > lim.member_bytes:
                    raise SourceError(f"{rel}: {p.stat().st_size} bytes, larger than the limit "
                                      f"{Limits.setting('member_bytes')}={lim.member_bytes}")
                count += 1
                if count > lim.members:
                    raise SourceError(f"{folder}: more than {lim.members} files "
                                      f"(limit {Limits.setting('members')})")
                info = zipfile.ZipInfo(rel, date_time=_DATE)
                info.compress_type = zipfile.ZIP_STORED if f.endswith(STORED_EXT) else zipfile.ZIP_DEFLATED
                _fast(info)
                info.external_attr = 0o644 << 16
                with open(p, "rb") as src, z.open(info, "w") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)


def build_pooled_archive(folder: str | Path, dest: str | Path, benchmark: str) -> Findings:
    """Zip a submission with its embeddings pooled (zrc.core.pooled): score files, params.yaml, meta.yaml and
    one npz of pooled vectors per semantic set and type, instead of every embedding file.

    Returns the findings of checking each embedding file (the server's per-file rules, by file); the archive
    is written only when there is no error.
    """
    tree = SubmissionDirTree(Path(folder))
    params, findings = validation.read_params(tree, benchmark)
    pooled = pooled_.pool_submission(tree, params, ["dev", "test"], findings) if findings.ok else {}
    if not findings.ok:
        return findings
    with zipfile.ZipFile(dest, "w") as z:
        members: dict[str, bytes | None] = {n: None for n in tree.names() if not n.startswith("semantic/")}
        members.update(pooled)
        for rel in sorted(members):
            info = zipfile.ZipInfo(rel, date_time=_DATE)
            info.compress_type = zipfile.ZIP_STORED if rel.endswith((".npz", *STORED_EXT)) else zipfile.ZIP_DEFLATED
            _fast(info)
            info.external_attr = 0o644 << 16
            data = members[rel]
            z.writestr(info, data if data is not None else tree.read(rel))
    return findings


def build_gold_archive(source: str | Path, dest: str | Path) -> None:
    """Zip only the files evaluation needs of an official dataset folder or zip."""
    tree = open_tree(source, trusted=True)   # the organiser's official dataset (~10^5 wav members)
    try:
        _, files = dataset.gold_files(tree)
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


class _Interrupted(Exception):
    pass


def _requests(path: Path, meta, offset: int, on_bytes, limit: int | None, size: int = CHUNK) -> Iterator:
    yield meta
    sent = 0
    with open(path, "rb") as fh:
        fh.seek(offset)
        while chunk := fh.read(size):
            if limit is not None and sent + len(chunk) > limit:
                time.sleep(0.5)  # like a connection that dies after its last bytes went out
                raise _Interrupted(f"stopped after {sent} bytes")
            yield gateway_pb2.UploadSubmissionRequest(chunk=chunk)
            sent += len(chunk)
            if on_bytes:
                on_bytes(len(chunk))


def _dataset_requests(path: Path, meta) -> Iterator:
    yield meta
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield gateway_pb2.ImportDatasetRequest(chunk=chunk)


class Client:
    def __init__(self, address: str, token: str | None = None, timeout: float = 3600.0, *,
                 ca_file: str | None = None, allow_plaintext: bool = False):
        """``address``: ``grpcs://host:port`` (TLS; ``ca_file`` or the system roots verify the server),
        ``host:port`` / ``grpc://host:port`` (plaintext: refused with a token unless loopback or
        ``allow_plaintext``), or ``unix:/path``."""
        self.address = address
        self.channel = client_channel(address, token=bool(token), ca_file=ca_file, allow_plaintext=allow_plaintext)
        self.stub = gateway_pb2_grpc.GatewayServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout
        self.local: LocalFolders | None = None   # the embedded stack's LocalFolders, set when the stack runs in this process

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, fn, request, timeout: float = 60.0):
        return fn(request, timeout=timeout, metadata=self.metadata)

    def get_upload(self, sha256: str):
        return self._call(self.stub.GetUpload, gateway_pb2.GetUploadRequest(sha256=sha256))

    def upload_archive(self, path: str | Path, on_bytes: Callable[[int], None] | None = None,
                       attempts: int = 5, limit: int | None = None, chunk: int = CHUNK):
        """Upload, resuming where the server stopped: only missing bytes are sent, nothing if it has it all.

        ``limit`` (tests) stops after that many bytes, as an interrupted connection would.
        """
        path = Path(path)
        digest, size = _sha256(path)
        for attempt in range(attempts):
            state = self.get_upload(digest)
            if state.stored:
                if on_bytes:
                    on_bytes(size)
                return gateway_pb2.UploadSubmissionResponse(digest=digest, size=size, created=False)
            offset = state.committed
            if on_bytes and offset:
                on_bytes(offset)
            meta = gateway_pb2.UploadSubmissionRequest(metadata=gateway_pb2.UploadMetadata(
                sha256=digest, size=size, filename=path.name, offset=offset))
            try:
                return self.stub.UploadSubmission(_requests(path, meta, offset, on_bytes, limit, chunk),
                                                  timeout=self.timeout, metadata=self.metadata)
            except grpc.RpcError as exc:
                retry = exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION)
                if limit is not None or not retry or attempt == attempts - 1:
                    raise
                time.sleep(min(2 ** attempt * 0.5, 5))
        raise RuntimeError("unreachable")  # pragma: no cover

    def upload_folder(self, folder: str | Path, on_bytes: Callable[[int], None] | None = None,
                      tmpdir: str | None = None, on_size: Callable[[int], None] | None = None):
        """Zip and upload a folder; ``on_size(total_bytes)`` learns the archive's size before any byte goes."""
        with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
            archive = Path(tmp) / "submission.zip"
            build_archive(folder, archive)
            if on_size:
                on_size(archive.stat().st_size)
            return self.upload_archive(archive, on_bytes)

    def upload_pooled(self, folder: str | Path, benchmark: str, on_bytes: Callable[[int], None] | None = None,
                      tmpdir: str | None = None):
        """(upload response or None, findings): the folder pooled here, then uploaded (resumable, deduplicated).

        Nothing is uploaded when a file breaks a per-file rule (the findings say which, by file).
        """
        with tempfile.TemporaryDirectory(dir=tmpdir) as tmp:
            archive = Path(tmp) / "submission-pooled.zip"
            findings = build_pooled_archive(folder, archive, benchmark)
            if not findings.ok:
                return None, findings
            return self.upload_archive(archive, on_bytes), findings

    def import_dataset(self, source: str | Path, name: str):
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "gold.zip"
            build_gold_archive(source, archive)
            digest, size = _sha256(archive)
            meta = gateway_pb2.ImportDatasetRequest(
                metadata=gateway_pb2.DatasetMetadata(name=name, sha256=digest, size=size))
            return self.stub.ImportDataset(_dataset_requests(archive, meta), timeout=self.timeout,
                                           metadata=self.metadata)

    def delete_dataset(self, name: str):
        return self._call(self.stub.DeleteDataset, gateway_pb2.DeleteDatasetRequest(name=name)).dataset

    def list_datasets(self):
        return self._call(self.stub.ListDatasets, gateway_pb2.ListDatasetsRequest()).datasets

    def submission(self, folder: str | Path, on_bytes: Callable[[int], None] | None = None,
                   tmpdir: str | None = None) -> tuple[str, str]:
        """(digest, local_ref) to evaluate ``folder``: in place when the stack runs in this process (nothing
        archived or copied), else the digest of the uploaded archive and no reference."""
        if self.local is not None:
            ref, digest = self.local.register(folder)
            return digest, ref
        return self.upload_folder(folder, on_bytes=on_bytes, tmpdir=tmpdir).digest, ""

    def evaluate(self, digest: str, benchmark: str, *, dataset: str = "", sets=(), tasks=(),
                 skip_validation: bool = False, publish: bool = False, baseline: bool = False,
                 local_ref: str = "") -> str:
        sel = common_pb2.Selection(submission_digest=digest, benchmark=benchmark, dataset=dataset,
                                   sets=list(sets or []), tasks=list(tasks or []), local_ref=local_ref)
        return self._call(self.stub.Evaluate, gateway_pb2.EvaluateRequest(
            selection=sel, skip_validation=skip_validation, publish=publish, baseline=baseline)).job_id

    def validate(self, digest: str, benchmark: str, *, dataset: str = "", sets=(), tasks=(), local_ref: str = ""):
        sel = common_pb2.Selection(submission_digest=digest, benchmark=benchmark, dataset=dataset,
                                   sets=list(sets or []), tasks=list(tasks or []), local_ref=local_ref)
        return self._call(self.stub.ValidateSubmission, gateway_pb2.ValidateSubmissionRequest(selection=sel),
                          timeout=self.timeout)

    def leaderboard(self, benchmark: str) -> list[dict]:
        from zrc.common.convert import entry_py
        r = self._call(self.stub.GetLeaderboard, gateway_pb2.GetLeaderboardRequest(benchmark=benchmark))
        return [entry_py(e) for e in r.entries]

    def whoami(self):
        return self._call(self.stub.WhoAmI, gateway_pb2.WhoAmIRequest())

    def create_user(self, name: str, admin: bool = False) -> None:
        self._call(self.stub.CreateUser, gateway_pb2.CreateUserRequest(name=name, admin=admin))

    def create_token(self, user: str, expires_days: int = 0) -> str:
        return self.issue_token(user, expires_days).token

    def issue_token(self, user: str, expires_days: int = 0):
        """The CreateTokenResponse: token (shown once), its id and expiry."""
        return self._call(self.stub.CreateToken, gateway_pb2.CreateTokenRequest(user=user, expires_days=expires_days))

    def list_users(self):
        return self._call(self.stub.ListUsers, gateway_pb2.ListUsersRequest()).users

    def list_tokens(self, user: str):
        return self._call(self.stub.ListTokens, gateway_pb2.ListTokensRequest(user=user)).tokens

    def revoke_tokens(self, *, token: str = "", token_id: str = "", user: str = "") -> int:
        return self._call(self.stub.RevokeTokens,
                          gateway_pb2.RevokeTokensRequest(token=token, id=token_id, user=user)).revoked

    def set_user_disabled(self, name: str, disabled: bool) -> None:
        self._call(self.stub.SetUserDisabled, gateway_pb2.SetUserDisabledRequest(name=name, disabled=disabled))

    def grant_submission(self, sha256: str, user: str) -> None:
        self._call(self.stub.GrantSubmission, gateway_pb2.GrantSubmissionRequest(sha256=sha256, user=user))

    def audit(self, limit: int = 100):
        return self._call(self.stub.ListAudit, gateway_pb2.ListAuditRequest(limit=limit)).records

    def revoke_token(self, token: str) -> None:
        self._call(self.stub.RevokeToken, gateway_pb2.RevokeTokenRequest(token=token))

    def rescore(self, benchmark: str) -> list[str]:
        return list(self._call(self.stub.Rescore, gateway_pb2.RescoreRequest(benchmark=benchmark)).job_ids)

    def watch(self, job_id: str, after_seq: int = -1, timeout: float | None = None,
              reconnect_for: float = RECONNECT_SECONDS, on_reconnect: Callable[[str], None] | None = None) -> Iterator:
        """Events of a job until it ends.

        A dropped connection (gateway restarted, network blip) is not the job's end: the watch reconnects
        and resumes after the last event seen, for up to ``reconnect_for`` seconds without an answer;
        ``on_reconnect(reason)`` is told each time.
        """
        seen = after_seq
        lost_since = None
        while True:
            try:
                for msg in self.stub.WatchJob(gateway_pb2.WatchJobRequest(job_id=job_id, after_seq=seen),
                                              timeout=timeout or self.timeout, metadata=self.metadata):
                    lost_since = None
                    if msg.HasField("event"):
                        seen = msg.event.seq
                    yield msg
                    if msg.HasField("job"):
                        return
                continue   # the server ends a watch after a while (ZRC_WATCH_SECONDS): reconnect after the last event
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    # the server's streams are all taken: a short call now and then does as well, more slowly
                    time.sleep(2.0)
                    job = self.get_job(job_id)
                    if job.state in _FINAL:
                        yield gateway_pb2.WatchJobResponse(job=job)
                        return
                    continue
                if exc.code().name not in _DROPPED:
                    raise
                now = time.monotonic()
                lost_since = lost_since or now
                if now - lost_since > reconnect_for:
                    raise
                if on_reconnect:
                    on_reconnect(f"{exc.code().name.lower()}: {exc.details() or ''}".rstrip(": "))
                time.sleep(0.5)

    def wait(self, job_id: str, timeout: float | None = None):
        last = None
        for msg in self.watch(job_id, timeout=timeout):
            if msg.HasField("job"):
                last = msg.job
        return last if last is not None else self.get_job(job_id)

    def get_job(self, job_id: str):
        return self._call(self.stub.GetJob, gateway_pb2.GetJobRequest(job_id=job_id)).job

    def list_jobs(self, page_size: int = 0) -> list:
        """Every job of the caller (summaries, oldest first), page by page."""
        out, token = [], ""
        while True:
            r = self._call(self.stub.ListJobs, gateway_pb2.ListJobsRequest(page_size=page_size, page_token=token))
            out.extend(r.jobs)
            token = r.next_page_token
            if not token:
                return out

    def compare_scores(self, a: str, b: str) -> list[dict]:
        """Server-side paired comparison of two jobs or published entries: rows as ``zrc compare --json``."""
        r = self._call(self.stub.CompareScores, gateway_pb2.CompareScoresRequest(a=a, b=b), timeout=300.0)
        keys = ("a", "b", "diff", "ci_low", "ci_high", "p_value")
        return [{"task": m.task, "set": m.set, "metric": m.metric,
                 **{k: getattr(m, k) if m.HasField(k) else None for k in keys}} for m in r.rows]

    def get_scores(self, job_id: str):
        return self._call(self.stub.GetScores, gateway_pb2.GetScoresRequest(job_id=job_id), timeout=300.0)
