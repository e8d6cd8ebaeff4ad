"""Column tables with the CSV semantics the reference toolkit gets from pandas.

The reference reads gold/pairs files with ``pd.read_csv`` and writes every score
file with ``to_csv(index=False, float_format='%.4f')``. Published numbers are
compared byte for byte, so this module reproduces the parts of that behaviour
that show in the output, without pandas:

* type inference per column: all-integer -> int64, numeric (possibly with NA)
  -> float64, anything else -> object (``None`` for NA cells);
* pandas' default NA tokens (``''``, ``'nan'``, ``'NULL'``...);
* writing: ints as integers, floats as ``%.4f`` (NaN as an empty cell), strings
  with minimal csv quoting, ``\\n`` line ends.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

# pandas.io.parsers default na_values (pandas 2.x, STR_NA_VALUES)
NA_VALUES = frozenset(
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }
)


class TableError(ValueError):
    """A CSV file that cannot be read as a table; carries file and line for the user."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        return f"{where}: {self.message}" if where else self.message


NA_LIST = np.array(sorted(NA_VALUES), dtype=str)


def infer_column(values: list[str] | np.ndarray) -> np.ndarray:
    """Infer a column's type the way ``pd.read_csv`` does for the cases that matter.

    Returns int64 (no NA, all integers), float64 (numbers with or without NA) or a
    numpy str array in which every NA token is ``''`` (pandas writes NA as an empty
    cell, so the distinction never shows in an output).
    """
    u = np.asarray(values, dtype=str)
    if u.size == 0:
        return u
    try:
        as_int = u.astype(np.int64)
    except (ValueError, OverflowError):
        pass
    else:
        if not _has_underscore(u):
            return as_int
    na = _na_mask(u)
    if na.all():
        return np.full(u.size, np.nan)
    present = u[~na] if na.any() else u
    if not _has_underscore(present) and _parses_as_float(present[:1]):
        try:
            nums = np.char.strip(present).astype(np.float64)
        except ValueError:
            pass
        else:
            out_f = np.full(u.size, np.nan)
            out_f[~na] = nums
            return out_f
    if na.any():
        u = u.copy()
        u[na] = ""
    return u


_NA_CHARS = max(len(t) for t in NA_VALUES)


def _na_mask(u: np.ndarray) -> np.ndarray:
    """Which cells are an NA token. Only cells no longer than the longest token are compared: ``np.isin``
    sorts copies of what it is given, and a column of long text (the syntactic transcriptions, 33 MB as
    numpy str) was copied four times over for nothing."""
    if u.dtype.itemsize <= 4 * _NA_CHARS:
        return np.isin(u, NA_LIST)
    short = np.flatnonzero(np.char.str_len(u) <= _NA_CHARS)
    na = np.zeros(u.size, dtype=bool)
    na[short] = np.isin(u[short].astype(f"U{_NA_CHARS}"), NA_LIST)
    return na


def _parses_as_float(first: np.ndarray) -> bool:
    """Whether the first cell converts the way the whole column is then converted: a column whose first
    cell does not is text, and stripping a copy of all of it first would be memory spent for nothing."""
    try:
        np.char.strip(first).astype(np.float64)
    except ValueError:
        return False
    return True


def _has_underscore(u: np.ndarray) -> bool:
    # Python/numpy accept '1_000' as a number, pandas does not ('10_7_2723' is a ProsAudit stem)
    return bool((np.char.find(u, "_") >= 0).any())


@dataclass
class Table:
    """An ordered mapping of column name -> 1-D numpy array, all the same length."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of unequal length: {lengths}")

    @property
    def nrows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def take(self, index: np.ndarray) -> Table:
        return Table({k: v[index] for k, v in self.columns.items()})

    def with_column(self, name: str, values: np.ndarray) -> Table:
        cols = dict(self.columns)
        cols[name] = values
        return Table(cols)


def read_csv(data: bytes | str, *, file: str | None = None, required: Iterable[str] = ()) -> Table:
    """Read a headed CSV into a typed :class:`Table`; columns are addressed by name."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    fast = _read_simple(text, required)
    if fast is not None:
        return fast
    return _read_careful(text, file, required)


_BLOCK_ROWS = 20_000   # rows held as Python strings at a time by the careful path (~10 MB of cells)


def _read_careful(text: str, file: str | None, required: Iterable[str]) -> Table:
    """The csv module's parsing (quotes, CR line ends): what every quoted file takes (a syntactic gold file
    quotes each transcription with a comma). Rows are turned into columns a block at a time, held as bytes
    (for ASCII text) until each column is whole, as :func:`_read_simple` does: all the rows of a 126k-line
    file as Python lists of strings were ~90 MB. The errors are the ones a whole-file read would report
    first (a CSV syntax error anywhere wins)."""
    as_bytes = text.isascii() and "\x00" not in text
    header: list[str] | None = None
    parts: list[list[np.ndarray]] = []
    block: list[list[str]] = []
    bad: tuple[int, int] | None = None   # (line, fields) of the first row of the wrong width
    blank = 0                              # line of a run of empty rows not yet known to be trailing
    try:
        for lineno, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if header is None:
                header, parts = [h.strip() for h in row], [[] for _ in row]
                continue
            if not row:
                blank = blank or lineno
                continue
            if blank and bad is None and len(header):
                bad = (blank, 0)
            blank = 0
            if bad is not None:
                continue
            if len(row) != len(header):
                bad = (lineno, len(row))
                continue
            block.append(row)
            if len(block) == _BLOCK_ROWS:
                _add_block(parts, block, as_bytes)
                block = []
    except csv.Error as exc:
        raise TableError(f"not a valid CSV file ({exc})", file=file) from None
    if header is None:
        raise TableError("empty file, expected a header line", file=file, line=1)
    width = len(header)
    if len(set(header)) != width:
        dup = sorted({h for h in header if header.count(h) > 1})
        raise TableError(f"duplicate column name(s) {', '.join(dup)}", file=file, line=1)
    if bad is not None:
        raise TableError(f"expected {width} fields ({','.join(header)}), found {bad[1]}", file=file, line=bad[0])
    missing = [c for c in required if c not in header]
    if missing:
        raise TableError(
            f"missing column(s) {', '.join(missing)}; header is {','.join(header)}", file=file, line=1
        )
    _add_block(parts, block, as_bytes)
    columns = {}
    for j, h in enumerate(header):   # one column joined and typed at a time, its blocks let go as it is
        cells = np.concatenate(parts[j]) if parts[j] else np.asarray([], dtype=str)
        columns[h] = infer_column(cells.astype(str) if as_bytes else cells)
        parts[j] = []
    return Table(columns)


def _add_block(parts: list[list[np.ndarray]], block: list[list[str]], as_bytes: bool) -> None:
    if block:
        for j, cells in enumerate(zip(*block, strict=True)):
            parts[j].append(np.asarray(cells, dtype=np.bytes_ if as_bytes else str))


def _read_simple(text: str, required: Iterable[str]) -> Table | None:
    """Fast path for the common case (no quoting, no CR, rectangular): one C-level split.

    Returns None whenever anything is unusual; the careful path then reports it.
    """
    if '"' in text or "\r" in text:
        return None
    # the body is addressed by offsets into ``text``: a stripped copy and a partitioned copy of a 17 MB file
    # would be two more copies held while the columns are built
    end = len(text)
    while end and text[end - 1] == "\n":
        end -= 1
    nl = text.find("\n", 0, end)
    header = [h.strip() for h in text[: end if nl < 0 else nl].split(",")]
    width = len(header)
    if (len(set(header)) != width or any(c not in header for c in required)
            or (nl >= 0 and text.find("\n\n", nl + 1, end) >= 0)):
        return None
    if nl < 0 or nl + 1 >= end:
        return Table({h: infer_column([]) for h in header})
    # In blocks of lines: one Python string per cell of a block at a time, not of the whole file (a 320k-row
    # gold file would hold 2.6M of them, ~150 MB); the cells go to numpy str arrays per column, and types are
    # inferred over whole columns, exactly as in one pass.
    parts: list[list[np.ndarray]] = [[] for _ in header]
    # cells are held as UTF-8 bytes until their column is whole (numpy str takes 4 bytes a character), unless
    # the text has a NUL: a bytes array would drop a trailing one
    as_bytes = "\x00" not in text
    start = nl + 1
    while start < end:
        stop = text.find("\n", start + _BLOCK_CHARS, end)
        stop = end if stop < 0 else stop
        block = text[start:stop]
        flat: list[bytes] | list[str] = (block.encode("utf-8").replace(b"\n", b",").split(b",") if as_bytes
                                         else block.replace("\n", ",").split(","))
        if len(flat) % width or block.count("\n") + 1 != len(flat) // width:
            return None
        for j in range(width):
            parts[j].append(np.asarray(flat[j::width], dtype=np.bytes_ if as_bytes else str))
        start = stop + 1
    columns = {}
    for j, h in enumerate(header):   # one column joined and typed at a time, its blocks let go as it is
        cells = np.concatenate(parts[j])
        columns[h] = infer_column(_text(cells) if as_bytes else cells)
        parts[j] = []
    return Table(columns)


def _text(cells: np.ndarray) -> np.ndarray:
    """UTF-8 bytes cells as a numpy str array (ASCII, the usual case, by a plain cast)."""
    try:
        return cells.astype(str)
    except UnicodeDecodeError:
        return np.char.decode(cells, "utf-8")


_BLOCK_CHARS = 1 << 20   # ~20k lines: the cells of a block as Python strings are ~10 MB


def _kind(values: np.ndarray) -> str:
    if values.dtype.kind == "f":
        return "f"
    if values.dtype.kind in "iu":
        return "i"
    return "o"


def write_csv(table: Table | Mapping[str, np.ndarray]) -> bytes:
    """Render like ``DataFrame.to_csv(index=False, float_format='%.4f')``: ints as integers,
    floats as ``%.4f`` (NaN empty), text with minimal quoting, ``\\n`` line ends."""
    cols = table.columns if isinstance(table, Table) else dict(table)
    names = list(cols)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    rendered = []
    for name in names:
        values = cols[name]
        kind = _kind(values)
        if kind == "f":
            # vectorised %.4f: np.char.mod is C-level; blank NaN afterwards
            strs = np.char.mod("%.4f", values.astype(np.float64)).astype(object)
            strs[np.isnan(values)] = ""
            strs[np.isposinf(values)] = "inf"
            strs[np.isneginf(values)] = "-inf"
            rendered.append(strs.tolist())
        elif kind == "i":
            rendered.append(values.astype(str).tolist())
        else:
            rendered.append(["" if v is None else str(v) for v in values.tolist()])
    writer.writerows(zip(*rendered, strict=True))
    return buf.getvalue().encode("utf-8")
