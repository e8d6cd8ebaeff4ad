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
import math
import posixpath
import struct
import zipfile

import numpy as np

from .findings import Findings
from .limits import Limits, limits
from .params import Params
from .scoring import PooledSet
from .sources import FileTree, SourceError
from .submission import ArrayError, npy_header

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


def _npz_arrays(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed ``.npz`` (what ``np.savez`` writes) as read-only views of ``data``.

    ``np.load`` copies each array twice on the way (about 1 s for the 240 MB of a 768-dim submission); here
    only the zip directory and each ``.npy`` header are parsed, with the header parser every embedding file
    goes through (never unpickling). A compressed npz is read with ``np.load`` (``allow_pickle=False``).
    """
    buf = memoryview(data)
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
        if any(i.compress_type != zipfile.ZIP_STORED for i in infos):
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        for info in infos:
            head = info.header_offset
            if bytes(buf[head:head + 4]) != b"PK\x03\x04":
                raise ValueError(f"{info.filename}: bad local header")
            name_len, extra_len = struct.unpack("<HH", buf[head + 26:head + 30])
            start = head + 30 + name_len + extra_len
            member = buf[start:start + info.file_size]
            if len(member) != info.file_size:
                raise ValueError(f"{info.filename}: truncated")
            fh = io.BytesIO(member[:10_100])   # magic, length and header (npy_header refuses longer)
            try:
                shape, fortran, dtype = npy_header(fh)
            except ArrayError as exc:
                raise ValueError(f"{info.filename}: {exc.message}") from None
            if dtype.hasobject:
                raise ValueError(f"{info.filename}: object arrays are not accepted")
            count = math.prod(shape)
            if fh.tell() + count * dtype.itemsize != info.file_size:
                raise ValueError(f"{info.filename}: the header declares {shape} of {dtype}, not what the file holds")
            arr = np.frombuffer(member, dtype=dtype, count=count, offset=fh.tell())
            out[info.filename.removesuffix(".npy")] = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    return out


def _load(tree: FileTree, path: str, findings: Findings) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        arrays = _npz_arrays(tree.read(path))
        names, vectors = arrays["names"], arrays["vectors"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, SourceError) as exc:
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


def scan_pooled(gold, tree: FileTree, params: Params, findings: Findings, align: bool = True) -> dict[str, PooledSet]:
    """Server side: check the pooled vectors of one semantic set and align them with the gold rows.

    ``align=False`` checks only and returns nothing: the validation service, whose scorers read the vectors
    from the archive themselves, then never holds an aligned copy (230 MB for a 768-dim submission).
    """
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
        if not align:
            continue
        # one gather into gold order (the client sends file order); NaN rows only where files are missing
        src = np.full(expected.size, -1, np.int64)
        src[rows[keep]] = np.flatnonzero(keep)
        present = src >= 0
        if vectors.shape[0] and present.all():
            out_vectors = vectors[src]
        else:
            out_vectors = np.full((expected.size, vectors.shape[1] if vectors.shape[0] else 1), np.nan)
            out_vectors[present] = vectors[src[present]]
        out[t] = PooledSet(out_vectors, present)
    return out
