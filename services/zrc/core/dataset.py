"""Official datasets (``sLM21-dataset``, ``prosaudit-dataset``) as an in-memory gold model.

Only the gold/pairs CSV files are needed to validate and score; the wav files
(30 GB for sLM21) are never read. Columns are read by name, so the column order
of the real files does not matter (the reference indexes some by position).

Loading also pairs every correct item with its incorrect twin *by key*
(lexical: voice+id; syntactic: type+subtype+id+voice; ProsAudit: type+id+voice),
where the reference pairs syntactic and ProsAudit rows by their position in the
file. Validation and scoring share the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .benchmarks import BENCHMARKS, SETS, BenchmarkSpec, TaskSpec
from .compiled import compiled_name, decode_table, encode_table, narrow, pack, unpack, widen
from .errors import InvalidArgument
from .sources import FileTree, SourceError, open_tree, rooted
from .table import Table, TableError, read_csv


class DatasetError(InvalidArgument):
    """A dataset that cannot be used, with the file (and line) at fault."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class PairLayout:
    """How a pairs-task gold file is read and paired."""

    required: tuple[str, ...]
    pair_key: tuple[str, ...]      # identifies one (correct, incorrect) pair of one voice
    group_key: tuple[str, ...]     # by_pair rows: mean over voices within this key


PAIR_LAYOUTS: dict[str, PairLayout] = {
    "lexical": PairLayout(
        required=("filename", "id", "voice", "frequency", "word", "phones", "length", "correct"),
        pair_key=("voice", "id"),
        group_key=("id",),
    ),
    "syntactic": PairLayout(
        required=("filename", "id", "voice", "type", "subtype", "correct", "transcription"),
        pair_key=("type", "subtype", "id", "voice"),
        group_key=("type", "subtype", "id"),
    ),
    "english": PairLayout(
        required=("filename", "id", "voice", "type", "subtype", "correct"),
        pair_key=("type", "id", "voice"),
        group_key=("type", "id"),
    ),
}

SEMANTIC_GOLD_COLUMNS = ("type", "filename", "voice", "word")
SEMANTIC_PAIRS_COLUMNS = ("type", "dataset", "word_1", "word_2", "similarity", "relatedness")
SEMANTIC_TYPES = ("synthetic", "librispeech")
MAX_LIBRISPEECH_TOKENS = 10


def key_codes(table: Table, columns: tuple[str, ...]) -> np.ndarray:
    """Dense int codes of the tuple of ``columns``, ordered like a lexicographic sort of the values.

    Used for pairing, grouping and sorting: codes of a multi-column key sort the
    same way pandas' ``groupby(sort=True)`` sorts the key tuples.
    """
    code = np.zeros(table.nrows, dtype=np.int64)
    for col in columns:
        _, inv = np.unique(as_key(table[col]), return_inverse=True)
        code = code * (int(inv.max()) + 1 if inv.size else 1) + inv
        _, code = np.unique(code, return_inverse=True)
    return code.astype(np.int64)


def as_key(values: np.ndarray) -> np.ndarray:
    """A sortable array for a column: numbers as they are, text with NA as ''."""
    if values.dtype.kind in "iufU":
        return values
    return np.asarray(["" if v is None else str(v) for v in values], dtype=str)


class StemIndex:
    """Maps names to their row in a gold column (-1 when absent), vectorised: a binary search through the
    column's sort order. No sorted copy of the column is kept (for the 320k lexical test names it was 15 MB
    more per part, held as long as the dataset)."""

    def __init__(self, stems: np.ndarray, order: np.ndarray | None = None):
        self.stems = stems
        self.order = np.argsort(stems, kind="stable") if order is None else order

    @property
    def sorted(self) -> np.ndarray:
        return self.stems[self.order]

    def lookup(self, names: np.ndarray) -> np.ndarray:
        if self.stems.size == 0:
            return np.full(len(names), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.stems, names, sorter=self.order), self.stems.size - 1)
        row = self.order[pos]
        return np.where(self.stems[row] == names, row, -1).astype(np.int64)


@dataclass
class PairGold:
    """Gold of one pairs-task set (lexical/syntactic/ProsAudit dev or test)."""

    task: TaskSpec
    set: str
    file: str
    table: Table
    layout: PairLayout
    stems: np.ndarray              # filename column as str, in gold order
    good: np.ndarray               # gold row of the correct item of each pair (gold order)
    bad: np.ndarray                # gold row of its incorrect twin
    notes: list[str] = field(default_factory=list)
    order: np.ndarray | None = None   # sort order of stems, when known (compiled gold)

    def __post_init__(self) -> None:
        self.index = StemIndex(self.stems, self.order)

    def lookup(self, names: np.ndarray) -> np.ndarray:
        """Gold row of each name, -1 where it is not in the gold."""
        return self.index.lookup(names)


@dataclass
class SemanticGold:
    set: str
    gold_file: str
    pairs_file: str
    gold: Table
    pairs: Table
    stems: dict[str, np.ndarray]   # type -> filenames of that type (gold order)
    notes: list[str] = field(default_factory=list)
    orders: dict[str, np.ndarray] | None = None   # sort order of each type's stems (compiled gold)

    def __post_init__(self) -> None:
        self.index = {t: StemIndex(s, (self.orders or {}).get(t)) for t, s in self.stems.items()}


class Dataset:
    """A dataset whose gold files are parsed on first use (a lexical-only run never reads semantic gold)."""

    def __init__(self, name: str, benchmark: BenchmarkSpec, root: FileTree,
                 parts: dict[tuple[str, str], TaskSpec], label: str = ""):
        self.name = name
        self.benchmark = benchmark
        self.root = root
        self.parts = parts
        self.label = label
        self._golds: dict[tuple[str, str], PairGold | SemanticGold] = {}

    def gold(self, task: str, set_: str) -> PairGold | SemanticGold:
        key = (task, set_)
        if key not in self._golds:
            spec = self.parts.get(key)
            if spec is None:
                raise DatasetError(f"dataset {self.name!r} has no gold for {task} {set_}")
            self._golds[key] = (load_compiled_gold(self.root, spec, set_)
                                or (load_semantic_gold(self.root, set_) if spec.kind == "semantic"
                                    else load_pair_gold(self.root, spec, set_)))
        return self._golds[key]

    def load_all(self) -> Dataset:
        """Parse and check every gold file now (dataset import does this)."""
        for task, set_ in self.parts:
            self.gold(task, set_)
        return self

    def compiled(self) -> dict[str, bytes]:
        """Compiled forms of every part loaded so far (checked, paired), by the name to store them under."""
        return {compiled_name(g.file if isinstance(g, PairGold) else g.gold_file): compile_gold(g, self.root)
                for g in self._golds.values()}

    def compile_parts(self):
        """Check and compile every part, one at a time (peak memory: the largest part, not all of them):
        yields (name to store it under, compiled bytes, notes); no part stays loaded."""
        for key in sorted(self.parts):
            g = self.gold(*key)
            data = compile_gold(g, self.root)
            del self._golds[key]
            yield compiled_name(g.file if isinstance(g, PairGold) else g.gold_file), data, g.notes

    def compile_all(self) -> tuple[dict[str, bytes], list[str]]:
        """Every part compiled (see :meth:`compile_parts`), and the notes of every part."""
        out, notes = {}, []
        for name, data, part_notes in self.compile_parts():
            out[name] = data
            notes.extend(part_notes)
        return out, notes

    @property
    def available(self) -> list[tuple[str, str]]:
        return sorted(self.parts)

    @property
    def notes(self) -> list[str]:
        return [n for g in self._golds.values() for n in g.notes]


def _read_table(tree: FileTree, name: str, required: tuple[str, ...]) -> Table:
    try:
        return read_csv(tree.read(name), file=name, required=required)
    except TableError as exc:
        raise DatasetError(exc.message, exc.file, exc.line) from None
    except UnicodeDecodeError:
        raise DatasetError("not UTF-8 text", name) from None


def _check_unique(values: np.ndarray, file: str, what: str) -> None:
    u, idx, counts = np.unique(values, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = u[counts > 1][0]
        first = np.flatnonzero(values == dup)
        raise DatasetError(f"{what} '{dup}' appears {len(first)} times (rows {', '.join(str(i + 2) for i in first[:5])})", file)


def load_pair_gold(tree: FileTree, task: TaskSpec, set_: str) -> PairGold:
    name = task.gold_path(set_)
    layout = PAIR_LAYOUTS[task.subset]
    table = _read_table(tree, name, layout.required)
    stems = as_key(table["filename"])
    _check_unique(stems, name, "filename")
    correct = table["correct"]
    if correct.dtype.kind not in "iuf" or not np.isin(correct, (0, 1)).all():
        bad = np.flatnonzero(~np.isin(correct, (0, 1))) if correct.dtype.kind in "iuf" else [0]
        raise DatasetError("column 'correct' must be 0 or 1", name, int(bad[0]) + 2)
    code = key_codes(table, layout.pair_key)
    good_rows = np.flatnonzero(correct == 1)
    bad_rows = np.flatnonzero(correct == 0)
    for rows, what in ((good_rows, "correct"), (bad_rows, "incorrect")):
        u, counts = np.unique(code[rows], return_counts=True)
        if (counts > 1).any():
            row = rows[np.flatnonzero(code[rows] == u[counts > 1][0])[1]]
            raise DatasetError(
                f"two {what} items share the pair key ({', '.join(layout.pair_key)})", name, int(row) + 2
            )
    twin = StemIndex(code[bad_rows]).lookup(code[good_rows])   # position in bad_rows, -1 if none
    good = good_rows[twin >= 0]
    bad = bad_rows[twin[twin >= 0]]
    notes = []
    n_unpaired = (good_rows.size - good.size) + (bad_rows.size - bad.size)
    if n_unpaired:
        notes.append(f"{name}: {n_unpaired} item(s) have no twin with the same "
                     f"({', '.join(layout.pair_key)}) and are not scored")
    return PairGold(task, set_, name, table, layout, stems, good, bad, notes)


def load_semantic_gold(tree: FileTree, set_: str) -> SemanticGold:
    gname = f"semantic/{set_}/gold.csv"
    pname = f"semantic/{set_}/pairs.csv"
    gold = _read_table(tree, gname, SEMANTIC_GOLD_COLUMNS)
    pairs = _read_table(tree, pname, SEMANTIC_PAIRS_COLUMNS)
    types = as_key(gold["type"])
    bad = np.flatnonzero(~np.isin(types, SEMANTIC_TYPES))
    if bad.size:
        raise DatasetError(f"type must be synthetic or librispeech, found '{types[bad[0]]}'", gname, int(bad[0]) + 2)
    ptypes = as_key(pairs["type"])
    bad = np.flatnonzero(~np.isin(ptypes, SEMANTIC_TYPES))
    if bad.size:
        raise DatasetError(f"type must be synthetic or librispeech, found '{ptypes[bad[0]]}'", pname, int(bad[0]) + 2)
    stems = {}
    words = as_key(gold["word"])
    notes: list[str] = []
    for t in SEMANTIC_TYPES:
        sel = types == t
        stems[t] = as_key(gold["filename"])[sel]
        _check_unique(stems[t], gname, f"{t} filename")
        tw = words[sel]
        pw = np.concatenate([as_key(pairs["word_1"])[ptypes == t], as_key(pairs["word_2"])[ptypes == t]])
        missing = np.setdiff1d(pw, tw)
        if missing.size:
            raise DatasetError(f"{missing.size} {t} pair word(s) have no token in gold.csv, e.g. '{missing[0]}'", pname)
        if t == "librispeech" and tw.size:
            u, counts = np.unique(tw, return_counts=True)
            if counts.max() > MAX_LIBRISPEECH_TOKENS:
                raise DatasetError(
                    f"librispeech word '{u[counts.argmax()]}' has {counts.max()} tokens "
                    f"(at most {MAX_LIBRISPEECH_TOKENS})", gname)
        if t == "synthetic" and tw.size:
            voices = as_key(gold["voice"])[sel]
            wv = np.unique(np.char.add(np.char.add(tw, "\x00"), voices))
            if wv.size != tw.size:
                raise DatasetError("a synthetic (word, voice) has more than one token", gname)
    _check_synthetic_voices(gold, pairs, types, ptypes, pname)
    return SemanticGold(set_, gname, pname, gold, pairs, stems, notes)


def _check_synthetic_voices(gold: Table, pairs: Table, types: np.ndarray, ptypes: np.ndarray, pname: str) -> None:
    """A synthetic pair needs one voice saying both words (the reference divides by zero otherwise)."""
    sel = types == "synthetic"
    if not sel.any() or not (ptypes == "synthetic").any():
        return
    words = as_key(gold["word"])[sel]
    voices = as_key(gold["voice"])[sel]
    wu, winv = np.unique(words, return_inverse=True)
    vu, vinv = np.unique(voices, return_inverse=True)
    has = np.zeros((wu.size, vu.size), dtype=bool)
    has[winv, vinv] = True
    psel = ptypes == "synthetic"
    w1 = np.searchsorted(wu, as_key(pairs["word_1"])[psel])
    w2 = np.searchsorted(wu, as_key(pairs["word_2"])[psel])
    shared = (has[w1] & has[w2]).any(axis=1)
    if not shared.all():
        row = np.flatnonzero(psel)[np.flatnonzero(~shared)[0]]
        raise DatasetError("synthetic pair has no voice in common between its two words", pname, int(row) + 2)


def _sources(gold: PairGold | SemanticGold, tree: FileTree) -> dict[str, bytes]:
    names = [gold.file] if isinstance(gold, PairGold) else [gold.gold_file, gold.pairs_file]
    return {n: tree.read(n) for n in names}


def compile_gold(gold: PairGold | SemanticGold, tree: FileTree) -> bytes:
    """One part's gold model as an npz (see :mod:`zrc.core.compiled`): tables, pairing, name orders, notes."""
    arrays: dict[str, np.ndarray] = {"notes": np.array(gold.notes, dtype=str)}
    if isinstance(gold, PairGold):
        encode_table("t_", gold.table, arrays)
        arrays.update(good=gold.good.astype(np.int32), bad=gold.bad.astype(np.int32),
                      order=gold.index.order.astype(np.int32))
    else:
        encode_table("g_", gold.gold, arrays)
        encode_table("p_", gold.pairs, arrays)
        for t, idx in gold.index.items():
            arrays[f"stems_{t}"] = narrow(gold.stems[t])
            arrays[f"order_{t}"] = idx.order.astype(np.int32)
    return pack(_sources(gold, tree), arrays)


def load_compiled_gold(tree: FileTree, task: TaskSpec, set_: str) -> PairGold | SemanticGold | None:
    """The compiled gold of a part when it was made from the CSVs ``tree`` holds now, else None."""
    if task.kind == "semantic":
        names = [f"semantic/{set_}/gold.csv", f"semantic/{set_}/pairs.csv"]
    else:
        names = [task.gold_path(set_)]
    cname = compiled_name(names[0])
    if not tree.exists(cname) or not all(tree.exists(n) for n in names):
        return None
    z = unpack(tree.read(cname), {n: tree.sha256(n) for n in names})
    if z is None:
        return None
    notes = z["notes"].tolist()
    if task.kind == "semantic":
        stems = {t: widen(z[f"stems_{t}"]) for t in SEMANTIC_TYPES}
        orders = {t: z[f"order_{t}"].astype(np.int64) for t in SEMANTIC_TYPES}
        return SemanticGold(set_, names[0], names[1], decode_table("g_", z), decode_table("p_", z), stems, notes,
                            orders)
    table = decode_table("t_", z)
    return PairGold(task, set_, names[0], table, PAIR_LAYOUTS[task.subset], as_key(table["filename"]),
                    z["good"].astype(np.int64), z["bad"].astype(np.int64), notes, z["order"].astype(np.int64))


def detect_benchmark(tree: FileTree) -> tuple[BenchmarkSpec, FileTree]:
    """Which benchmark a dataset tree belongs to, and the tree re-rooted at its top."""
    for bench in (BENCHMARKS["sLM21"], BENCHMARKS["prosAudit"]):
        markers = [t.gold_path(s) for t in bench.tasks for s in SETS]
        try:
            return bench, rooted(tree, markers)
        except SourceError:
            continue
    raise DatasetError(
        "not an sLM21 or ProsAudit dataset: expected lexical/dev/gold.csv, syntactic/..., "
        "semantic/{dev,test}/{gold,pairs}.csv or english/{dev,test}/gold.csv", tree.label)


def load_dataset(source: str | FileTree, name: str | None = None) -> Dataset:
    """Open a dataset folder or zip (or an already opened tree); gold files are parsed lazily."""
    tree = open_tree(source, trusted=True) if not isinstance(source, FileTree) else source
    bench, root = detect_benchmark(tree)
    parts: dict[tuple[str, str], TaskSpec] = {}
    for task in bench.tasks:
        for set_ in SETS:
            if task.kind == "semantic":
                if root.exists(f"semantic/{set_}/gold.csv") or root.exists(f"semantic/{set_}/pairs.csv"):
                    parts[(task.name, set_)] = task
            elif root.exists(task.gold_path(set_)):
                parts[(task.name, set_)] = task
    if not parts:
        raise DatasetError("no gold files found", tree.label)
    return Dataset(name or bench.dataset, bench, root, parts, label=tree.label)


def gold_file_names(tree: FileTree) -> tuple[BenchmarkSpec, FileTree, list[str]]:
    """The files of a dataset that evaluation needs (gold/pairs CSVs, index.json), under its re-rooted tree."""
    bench, root = detect_benchmark(tree)
    return bench, root, [n for n in root.names()
                         if n.endswith("gold.csv") or n.endswith("pairs.csv") or n == "index.json"]


def gold_files(source: str | FileTree) -> tuple[BenchmarkSpec, dict[str, bytes]]:
    """The files of a dataset that evaluation needs, with their bytes, for import."""
    tree = open_tree(source) if not isinstance(source, FileTree) else source
    bench, root, names = gold_file_names(tree)
    return bench, {n: root.read(n) for n in names}
