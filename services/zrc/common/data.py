"""Service-side helpers over stored submissions and results: opening a submission (archive or local folder),
result keys and their gzip encoding, pooled vectors left for the scorers; and the Finding/Selection message
conversions (what convert.py imports lazily: this module imports numpy and storage, a client must not)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import numpy as np

from zrc.core import SCORER_VERSION
from zrc.core.findings import Finding
from zrc.core.scoring import PooledSet
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


def pooled_key(digest: str, dataset_digest: str, set_: str, params_key: dict) -> str:
    """Where the validation service leaves the pooled embeddings of one semantic set for the scorer."""
    blob = json.dumps([digest, dataset_digest, set_, params_key, SCORER_VERSION], sort_keys=True)
    return keys.pooled(digest, hashlib.sha256(blob.encode()).hexdigest())


def save_pooled(storage: Storage, key: str, pooled: dict) -> None:
    """Pooled vectors (one float64 row per file) as an npz: no pickles, one object instead of ~40k."""
    buf = io.BytesIO()
    np.savez(buf, **{f"{t}__{k}": getattr(p, k) for t, p in pooled.items() for k in ("vectors", "present")})
    size = buf.tell()
    buf.seek(0)
    # streamed from the buffer: getvalue() would hold a second copy (230 MB for a 768-dim submission)
    storage.put_file(SUBMISSIONS, key, buf, size)


def load_pooled(storage: Storage, key: str) -> dict | None:
    try:
        data = storage.get_bytes(SUBMISSIONS, key)
    except NotFound:
        return None
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        types = {name.split("__")[0] for name in z.files}
        return {t: PooledSet(z[f"{t}__vectors"], z[f"{t}__present"]) for t in types}
