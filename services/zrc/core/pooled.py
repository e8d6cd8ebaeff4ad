"""Pooled uploads: the semantic embeddings of a submission sent as one pooled vector per file.

The semantic score depends only on one pooled vector per embedding file, so a client need not upload the
raw arrays (4.4 GB for a 768-dim submission): it checks and pools every file with the very function the
server's validation uses (:func:`zrc.core.validation.pool_file`) and sends, per set and type, one ``.npz``
holding the file names and the float64 vectors, next to the score files, ``params.yaml`` and
``meta.yaml``. The server then checks what it received (format, pooling and file type against
``params.yaml``, names against the gold, counts, one dimension per set, finite values) and scores exactly
the numbers it would from the raw files: pooling is deterministic float64 arithmetic on the same arrays.

Layout inside the archive::

    pooled/manifest.json             {"format": "zrc-pooled-1", "pooling": "mean", "ext": ".npy"}
    pooled/<set>/<type>.npz          names: str[n], vectors: float64[n, dim]
"""

from __future__ import annotations

import io
import json
import posixpath

import numpy as np

from .findings import Findings
from .limits import Limits, limits
from .params import Params
from .scoring import PooledSet
from .sources import FileTree, SourceError

FORMAT = "zrc-pooled-1"
MANIFEST = "pooled/manifest.json"
SEMANTIC_TYPES = ("synthetic", "librispeech")


def pooled_path(set_: str, type_: str) -> str:
    return f"pooled/{set_}/{type_}.npz"


def is_pooled_upload(tree: FileTree) -> bool:
    return tree.exists(MANIFEST)


def _enabled(params: Params) -> list[str]:
    return [t for t, on in (("synthetic", params.semantic.synthetic), ("librispeech", params.semantic.librispeech))
            if on]


def pool_submission(tree: FileTree, params: Params, sets: list[str], findings: Findings) -> dict[str, bytes]:
    """Client side: the pooled files of ``tree``'s semantic sets (manifest + one npz per set and type).

    Per-file problems are recorded in ``findings`` by file, exactly as the server's validation words them;
    names are checked against the gold by the server (the client has no gold).
    """
    from .validation import SameDim, pool_file  # validation imports this module

    ext, pooling = params.score_files_type, params.semantic.pooling
    out: dict[str, bytes] = {}
    for set_ in sets:
        same_dim = SameDim()
        for t in _enabled(params):
            folder = f"semantic/{set_}/{t}"
            files = [n for n in tree.under(folder) if n.endswith(ext)]
            names: list[str] = []
            vectors: np.ndarray | None = None   # filled row by row: each vector is held once
            for name in files:
                vec = pool_file(tree, name, ext, pooling, findings)
                if vec is None or not same_dim.check(vec, name, findings):
                    continue
                if vectors is None:
                    vectors = np.empty((len(files), vec.shape[0]))   # the dimension just checked
                vectors[len(names)] = vec
                names.append(posixpath.basename(name)[: -len(ext)])
            if not files:
                continue   # the server reports what is missing (it knows how many are expected)
            buf = io.BytesIO()
            np.savez(buf, names=np.asarray(names, dtype=str),
                     vectors=vectors[: len(names)] if vectors is not None else np.zeros((0, same_dim.dim or 1)))
            out[pooled_path(set_, t)] = buf.getvalue()
    out[MANIFEST] = json.dumps({"format": FORMAT, "pooling": pooling, "ext": ext}, sort_keys=True).encode()
    return out


def _manifest(tree: FileTree, params: Params, findings: Findings) -> bool:
    try:
        man = json.loads(tree.read(MANIFEST))
    except (ValueError, UnicodeDecodeError, SourceError) as exc:
        findings.error("pooled_format", f"not a JSON manifest ({exc})", MANIFEST)
        return False
    if not isinstance(man, dict) or man.get("format") != FORMAT:
        findings.error("pooled_format", f"unknown pooled upload format (expected {FORMAT}); update zrc", MANIFEST)
        return False
    ok = True
    for key, want in (("pooling", params.semantic.pooling), ("ext", params.score_files_type)):
        if man.get(key) != want:
            findings.error("pooled_params", f"vectors were made with {key} {man.get(key)!r} but params.yaml says "
                           f"{want!r}", MANIFEST)
            ok = False
    return ok


def _load(tree: FileTree, path: str, findings: Findings) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(io.BytesIO(tree.read(path)), allow_pickle=False) as z:
            names, vectors = z["names"], z["vectors"]
    except (OSError, ValueError, KeyError, EOFError, SourceError) as exc:
        findings.error("pooled_format", f"not a pooled-vectors npz with names and vectors ({exc})", path)
        return None
    if (names.ndim != 1 or names.dtype.kind != "U" or vectors.ndim != 2 or vectors.dtype != np.float64
            or vectors.shape[0] != names.shape[0]):
        findings.error("pooled_format", f"expected names str[n] and vectors float64[n, dim], found "
                       f"{names.dtype}{list(names.shape)} and {vectors.dtype}{list(vectors.shape)}", path)
        return None
    if vectors.shape[1] > limits().array_features:   # what a raw .npy of as many features would be refused for
        findings.error("array_too_large", f"{vectors.shape[1]} features per vector (limit "
                       f"{Limits.setting('array_features')}={limits().array_features})", path)
        return None
    return names, vectors


def scan_pooled(gold, tree: FileTree, params: Params, findings: Findings) -> dict[str, PooledSet]:
    """Server side: check the pooled vectors of one semantic set and align them with the gold rows."""
    ext = params.score_files_type
    good_manifest = _manifest(tree, params, findings)
    out: dict[str, PooledSet] = {}
    dim: int | None = None
    for t in _enabled(params):
        expected = gold.stems[t]
        folder = f"semantic/{gold.set}/{t}"
        loaded = _load(tree, pooled_path(gold.set, t), findings) if (
            good_manifest and tree.exists(pooled_path(gold.set, t))) else None
        if loaded is None:
            if good_manifest and not tree.exists(pooled_path(gold.set, t)) and expected.size:
                findings.error("missing_file", f"no {ext} files: expected {expected.size} "
                               f"(one per {t} wav of the {gold.set} set)", folder)
            out[t] = PooledSet(np.full((expected.size, 1), np.nan), np.zeros(expected.size, bool))
            continue
        names, vectors = loaded
        keep = np.ones(names.size, bool)
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
        for k in bad:
            findings.error("array_nonfinite", "pooled vector has NaN or infinite values", f"{folder}/{names[k]}{ext}")
        keep[bad] = False
        if vectors.shape[0]:
            if dim is None:
                dim = vectors.shape[1]
            elif vectors.shape[1] != dim:
                findings.error("array_dim", f"feature dimension {vectors.shape[1]} differs from {dim}", folder)
                keep[:] = False
        rows = gold.index[t].lookup(names)
        for k in np.flatnonzero(rows < 0):
            findings.error("extra_file", f"{names[k]}{ext} is not a {t} {gold.set} item", f"{folder}/{names[k]}{ext}")
        keep &= rows >= 0
        order = np.argsort(names, kind="stable")
        dup = order[1:][names[order][1:] == names[order][:-1]]
        for k in dup:
            findings.error("duplicate_file", f"a second file for '{names[k]}'", f"{folder}/{names[k]}{ext}")
        keep[dup] = False
        taken = np.zeros(expected.size, bool)
        taken[rows[rows >= 0]] = True
        missing = np.flatnonzero(~taken)
        if missing.size:
            findings.error("missing_file", f"{missing.size} of {expected.size} {t} files missing, e.g. "
                           f"{', '.join(s + ext for s in expected[missing[:3]])}", folder)
        out_vectors = np.full((expected.size, vectors.shape[1] if vectors.shape[0] else 1), np.nan)
        present = np.zeros(expected.size, bool)
        out_vectors[rows[keep]] = vectors[keep]
        present[rows[keep]] = True
        out[t] = PooledSet(out_vectors, present)
    return out
