"""Validation of a submission against a dataset: every rule of the reference, and what it misses.

All problems are collected in one pass as :class:`~zrc.core.findings.Finding`
objects; nothing here raises for bad input. Rules (codes in brackets):

* score text files: missing file [missing_file], undecodable [encoding], malformed
  line [bad_line], non-numeric score [bad_score], NaN score [nan_score],
  duplicate name [duplicate_name], name not in the gold [extra_name], gold name
  absent [missing_name] (extra and missing are reported together);
* embeddings: unexpected/missing files [extra_file, missing_file], the other
  extension only [wrong_extension], same stem twice [duplicate_file], unreadable
  [npy_format, txt_format], pickled/object arrays [npy_object], non-float dtype
  [array_dtype], not 2-D [array_ndim], empty [array_empty], NaN/inf
  [array_nonfinite], too few frames for the pooling [array_frames], feature
  dimension differing across files of a set [array_dim];
* params.yaml and meta.yaml rules (see :mod:`params`, :mod:`meta`);
* limits (see :mod:`limits`): archive members left out on opening [name_too_long,
  encrypted, file_too_large, compression_ratio], oversized arrays [array_too_large],
  long or too many lines [line_too_long, too_many_lines], a whole archive over a
  limit [limit]; each message names the ``ZRC_LIMIT_*`` setting.

float16/float32 arrays are accepted (the reference rejects them) and scored in float64.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

import numpy as np

from .benchmarks import BenchmarkSpec, TaskSpec
from .compiled import narrow
from .dataset import Dataset, DatasetError, PairGold, SemanticGold
from .findings import Findings
from .limits import Limits, limits, quoted
from .meta import META_FILE, check_meta, load_meta
from .params import PARAMS_FILE, Params, parse_params
from .pooled import is_pooled_upload, scan_pooled
from .scoring import PooledSet, pool
from .sources import FileTree, SourceError
from .submission import ArrayError, ScoreFile, check_array, parse_score_file, read_array


@dataclass
class Report:
    """What validation learned: findings, the parsed params, and reusable parsed content."""

    findings: Findings
    params: Params
    meta: dict | None = None
    score_files: dict[tuple[str, str], ScoreFile] = field(default_factory=dict)
    pooled: dict[tuple[str, str], dict[str, PooledSet]] = field(default_factory=dict)   # per semantic type

    @property
    def ok(self) -> bool:
        return self.findings.ok


def _read_yaml(tree: FileTree, name: str, findings: Findings) -> bytes | None:
    """A YAML file's bytes, or None if absent or unreadable (a finding says which)."""
    if not tree.exists(name):
        return None
    size, cap = tree.size(name), limits().yaml_bytes
    if size is not None and size > cap:   # refused from its size: never read
        findings.error(name.split(".")[0] + "_yaml", f"{size} bytes (limit {Limits.setting('yaml_bytes')}={cap})",
                       name)
        return None
    try:
        return tree.read(name)
    except (SourceError, OSError) as exc:
        findings.error("unreadable", str(exc), name)
        return None


def read_params(tree: FileTree, benchmark: str) -> tuple[Params, Findings]:
    unreadable = Findings()
    params, findings = parse_params(_read_yaml(tree, PARAMS_FILE, unreadable), benchmark)
    unreadable.extend(findings)
    return params, unreadable


def _examples(names) -> str:
    return ", ".join(quoted(str(n), 40) for n in names)


def rejected(exc: SourceError, params: Params) -> Report:
    """The report of an archive refused as a whole (over a limit, not a zip): one error finding."""
    findings = Findings()
    findings.error(exc.code, str(exc))
    return Report(findings, params)


def check_score_file(gold: PairGold, tree: FileTree, task: TaskSpec, set_: str,
                     findings: Findings) -> ScoreFile | None:
    path = task.submission_path(set_)
    if not tree.exists(path):
        findings.error("missing_file", f"{path} not found: expected one '<filename> <score>' line per "
                       f"{task.name} {set_} item ({gold.stems.size} lines)", path)
        return None
    size, cap = tree.size(path), limits().score_bytes
    if size is not None and size > cap:   # refused from its size: never read
        findings.error("file_too_large", f"a score file of {size} bytes (limit {Limits.setting('score_bytes')}="
                       f"{cap}); expected about {gold.stems.size} short lines", path)
        return None
    try:
        data = tree.read(path)
    except (SourceError, OSError) as exc:
        findings.error("unreadable", str(exc), path)
        return None
    sf = parse_score_file(data, path, findings)
    del data   # not held through the checks below (8 MB for the lexical test file)
    # duplicates, found on the names narrowed (ASCII sorts the same as bytes): the sorted copy takes a quarter
    key = narrow(sf.names)
    order = np.argsort(key, kind="stable")
    sn = key[order]
    dup = np.flatnonzero(sn[1:] == sn[:-1]) + 1
    del key, sn
    for k in dup:
        first_line = sf.lines[order[k - 1]]
        findings.error("duplicate_name", f"{quoted(str(sf.names[order[k]]))} appears again (first on line "
                       f"{first_line})", path, int(sf.lines[order[k]]))
    nan = np.flatnonzero(np.isnan(sf.scores))
    for k in nan:
        findings.error("nan_score", f"score of {quoted(str(sf.names[k]))} is NaN", path, int(sf.lines[k]))
    rows = gold.lookup(sf.names)
    for k in np.flatnonzero(rows < 0):
        findings.error("extra_name", f"{quoted(str(sf.names[k]))} is not a {task.name} {set_} item", path,
                       int(sf.lines[k]))
    seen = np.zeros(gold.stems.size, bool)
    seen[rows[rows >= 0]] = True
    missing = np.flatnonzero(~seen)
    if missing.size:
        findings.error("missing_name", f"{missing.size} of {gold.stems.size} {task.name} {set_} items have no "
                       f"score, e.g. {_examples(gold.stems[missing[:3]])}", path)
    return sf


class SameDim:
    """Every embedding file of a submission has the feature dimension of the first one read."""

    def __init__(self):
        self.dim: int | None = None
        self.first = ""

    def check(self, vec: np.ndarray, name: str, findings: Findings) -> bool:
        if self.dim is None:
            self.dim, self.first = vec.shape[0], name
        elif vec.shape[0] != self.dim:
            findings.error("array_dim", f"feature dimension {vec.shape[0]} differs from {self.dim} "
                           f"({posixpath.basename(self.first)})", name)
            return False
        return True


def pool_file(tree: FileTree, name: str, ext: str, pooling: str, findings: Findings) -> np.ndarray | None:
    """One embedding file checked and pooled (float64 vector), or None with its finding recorded.

    The one per-file rule set: the server's validation and a client pooling before an upload call it.
    """
    size = tree.size(name) if ext == ".txt" else None   # a .npy's header is checked against the limits instead
    if size is not None and size > limits().array_bytes // 4:
        findings.error("array_too_large", f"a text array of {size} bytes (limit "
                       f"{Limits.setting('array_bytes')}/4={limits().array_bytes // 4})", name)
        return None
    try:   # streamed: the .npy header (shape, bytes) is checked against the limits before the body is read
        with tree.open(name) as fh:
            arr = read_array(fh, ext)
    except ArrayError as exc:
        findings.error(exc.code, exc.message, name)
        return None
    except (SourceError, OSError) as exc:
        findings.error("unreadable", str(exc), name)
        return None
    problem = check_array(arr)
    min_frames = 2 if pooling == "lastlast" else 1
    if problem is None and arr.shape[0] < min_frames:
        problem = ("array_frames", f"pooling {pooling!r} needs at least {min_frames} frames, found {arr.shape[0]}")
    if problem is not None:
        findings.error(problem[0], problem[1], name)
        return None
    return pool(arr, pooling)


def scan_semantic(gold: SemanticGold, tree: FileTree, params: Params, findings: Findings,
                  keep_uploaded: bool = True) -> dict[str, PooledSet]:
    """Validate and pool every embedding file of one set, reading each file once.

    ``keep_uploaded=False``: vectors the client pooled are checked, not kept (see :func:`scan_pooled`)."""
    if is_pooled_upload(tree):   # the client pooled the files already: check what it sent
        return scan_pooled(gold, tree, params, findings, align=keep_uploaded)
    ext = params.score_files_type
    pooling = params.semantic.pooling
    other = ".txt" if ext == ".npy" else ".npy"
    enabled = [t for t, on in (("synthetic", params.semantic.synthetic),
                               ("librispeech", params.semantic.librispeech)) if on]
    out: dict[str, PooledSet] = {}
    same_dim = SameDim()
    for t in enabled:
        folder = f"semantic/{gold.set}/{t}"
        expected = gold.stems[t]
        files = [n for n in tree.under(folder) if n.endswith(ext)]
        if not files:
            if [n for n in tree.under(folder) if n.endswith(other)]:
                findings.error("wrong_extension", f"found {other} files but params.yaml expects {ext} "
                               f"(set syntactic.score_files_type: {other} to use them)", folder)
            elif expected.size:
                findings.error("missing_file", f"no {ext} files: expected {expected.size} "
                               f"(one per {t} wav of the {gold.set} set)", folder)
            out[t] = PooledSet(np.full((expected.size, 1), np.nan), np.zeros(expected.size, bool))
            continue
        stems = np.asarray([posixpath.basename(n)[: -len(ext)] for n in files], dtype=str)
        rows = gold.index[t].lookup(stems)
        # rows are written into one matrix as files are read: a list of per-file vectors plus the matrix built
        # from it would hold every vector twice (2 x 230 MB for a 768-dim submission)
        vectors: np.ndarray | None = None
        present = np.zeros(expected.size, bool)
        taken = np.zeros(expected.size, bool)
        for name, row in zip(files, rows, strict=True):
            if row < 0:
                findings.error("extra_file", f"{quoted(posixpath.basename(name))} is not a {t} {gold.set} item", name)
                continue
            if taken[row]:
                findings.error("duplicate_file", f"a second file for '{expected[row]}'", name)
                continue
            taken[row] = True
            vec = pool_file(tree, name, ext, pooling, findings)
            if vec is None or not same_dim.check(vec, name, findings):
                continue
            if vectors is None:
                vectors = np.full((expected.size, vec.shape[0]), np.nan)   # the dimension just checked
            vectors[row] = vec
            present[row] = True
        missing = np.flatnonzero(~taken)
        if missing.size:
            findings.error("missing_file", f"{missing.size} of {expected.size} {t} files missing, e.g. "
                           f"{', '.join(s + ext for s in expected[missing[:3]])}", folder)
        if vectors is None:
            vectors = np.full((expected.size, same_dim.dim or 1), np.nan)
        out[t] = PooledSet(vectors, present)
    return out


def validate(dataset: Dataset, tree: FileTree, bench: BenchmarkSpec, sets: list[str], tasks: list[str],
             *, meta_strict: bool = False, params: Params | None = None, keep_uploaded: bool = True) -> Report:
    """Validate the selected (task, set) parts of a submission; never raises for bad input.

    ``keep_uploaded=False``: a pooled upload's vectors are checked, and ``report.pooled`` stays empty."""
    findings = Findings()
    for code, message, name in getattr(tree, "problems", ()):
        findings.error(code, message, name)
    if params is None:
        params, pf = read_params(tree, bench.name)
        findings.extend(pf)
    meta_text = _read_yaml(tree, META_FILE, findings)
    meta, mf = load_meta(meta_text)
    findings.extend(mf)
    if meta is not None or meta_strict:
        findings.extend(check_meta(meta, benchmark=bench.name, strict=meta_strict))
    report = Report(findings, params, meta)
    keep = keep_uploaded or not is_pooled_upload(tree)
    for task_name in tasks:
        task = bench.task(task_name)
        for set_ in sets:
            try:
                gold = dataset.gold(task.name, set_)
            except DatasetError as exc:
                findings.error("dataset", exc.message)
                continue
            if isinstance(gold, SemanticGold):
                pooled = scan_semantic(gold, tree, params, findings, keep_uploaded)
                if keep:
                    report.pooled[(task.name, set_)] = pooled
            else:
                sf = check_score_file(gold, tree, task, set_, findings)
                if sf is not None:
                    report.score_files[(task.name, set_)] = sf
    return report
