"""Service-side helpers over stored submissions and results: opening a submission (archive or local folder),
result keys and their gzip encoding; and the Finding/Selection message conversions (what convert.py imports
lazily: this module imports storage, a client must not). No numpy: a gateway that only lists answers without it."""

from __future__ import annotations

import gzip
import hashlib
import json

from zrc.core.findings import Finding
from zrc.core.sources import FileTree, ZipTree
from zrc.pb.common.v1 import common_pb2
from zrc.storage import SUBMISSIONS, NotFound, Storage, keys

_SEVERITY = {"error": common_pb2.SEVERITY_ERROR, "warning": common_pb2.SEVERITY_WARNING}
_SEVERITY_BACK = {v: k for k, v in _SEVERITY.items()}


def finding_to_pb(f: Finding | dict) -> common_pb2.Finding:
    d = f if isinstance(f, dict) else f.to_dict()
    return common_pb2.Finding(severity=_SEVERITY[d["severity"]], code=d["code"], message=d["message"],
                              file=d.get("file") or "", line=d.get("line") or 0)


def finding_from_pb(p: common_pb2.Finding) -> dict:
    return {"severity": _SEVERITY_BACK.get(p.severity, "error"), "code": p.code, "message": p.message,
            "file": p.file or None, "line": p.line or None}


def selection_to_dict(sel: common_pb2.Selection) -> dict:
    d = {"submission_digest": sel.submission_digest, "benchmark": sel.benchmark, "dataset": sel.dataset,
         "sets": list(sel.sets), "tasks": list(sel.tasks)}
    if sel.local_ref:
        d["local_ref"] = sel.local_ref
    return d


def selection_from_dict(d: dict) -> common_pb2.Selection:
    return common_pb2.Selection(submission_digest=d["submission_digest"], benchmark=d["benchmark"],
                                dataset=d.get("dataset", ""), sets=d.get("sets", []), tasks=d.get("tasks", []),
                                local_ref=d.get("local_ref", ""))


def result_key(submission: str, dataset_digest: str, benchmark: str, task: str, set_: str, params_key: dict,
               scorer_version: str) -> str:
    """Results are cached by everything that can change them."""
    blob = json.dumps([submission, dataset_digest, benchmark, task, set_, params_key, scorer_version], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def encode_result(d: dict) -> bytes:
    return gzip.compress(json.dumps(d).encode(), 3, mtime=0)


def decode_result(data: bytes) -> dict:
    return json.loads(gzip.decompress(data))


def open_submission(storage: Storage, digest: str, local_ref: str = "", local=None) -> FileTree:
    """The stored archive of ``digest``; or, with ``local_ref``, the folder the embedded CLI registered with
    ``local`` (a :class:`zrc.common.local.LocalFolders`; None on a server, which then refuses the reference)."""
    if local_ref:
        from zrc.common.local import REFUSED, LocalRefError
        if local is None:
            raise LocalRefError(REFUSED)
        return local.open(local_ref)
    key = keys.archive(digest)
    try:
        reader = storage.open(SUBMISSIONS, key)
    except NotFound:
        raise NotFound(f"submission {digest[:12]} was not uploaded") from None
    return ZipTree(reader, label=f"submission {digest[:12]}")
