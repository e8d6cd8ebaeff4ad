"""Gold compiled to a compact binary form at dataset import (``lexical/dev/gold.csv`` -> ``gold.npz``).

Getting a dataset ready is parsing its CSVs (type inference of every cell, ~240k lexical rows), checking
them and pairing items by key (sorts of string columns); every scorer process did all of it again, about
6 s at full size. At import, after every check has passed, each part's gold model is stored next to its
CSV as an ``.npz``: the tables (numeric columns as they are, text columns as int32 codes into one array of
their distinct strings: each string stored once) plus what loading derives (the pairing, the sort order of
the names). Loading is a few ``np.load`` reads: no parsing, no sorting, no pickles.

A compiled file records the sha256 of every CSV it was made from and a format version; a reader uses it
only when all match, otherwise it parses the CSVs (old imports, a dataset folder edited since, a newer
format), so a stale compiled file can never change a score. An imported dataset's digests are stored at
import (written after its CSVs), so a service checks them without reading the CSVs from storage.
"""

from __future__ import annotations

import hashlib
import io
from functools import partial

import numpy as np

from .table import Table

FORMAT = "zrc-gold-2"


def compiled_name(csv_name: str) -> str:
    """``lexical/dev/gold.csv`` -> ``lexical/dev/gold.npz``."""
    return csv_name[:-4] + ".npz" if csv_name.endswith(".csv") else csv_name + ".npz"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_table(prefix: str, table: Table, out: dict[str, np.ndarray]) -> None:
    out[f"{prefix}names"] = np.array(table.names, dtype=str)
    for i, name in enumerate(table.names):
        col = table[name]
        if col.dtype.kind == "f":
            out[f"{prefix}c{i}"] = col
        elif col.dtype.kind in "iu":
            out[f"{prefix}c{i}_int"] = col.astype(_small_int(col))   # back to int64 when loaded
        else:
            # narrowed before np.unique, whose sorted copies then take 1 byte a character, not 4 (ASCII sorts
            # the same as bytes; other text stays str)
            col = narrow(np.asarray(col, dtype=str))
            uniq, codes = np.unique(col, return_inverse=True)
            if uniq.size == col.size:   # all distinct (file names): codes would only add bytes
                out[f"{prefix}c{i}_text"] = col
            else:
                out[f"{prefix}c{i}_strings"] = uniq
                out[f"{prefix}c{i}_codes"] = codes.astype(_small_int(codes))


def decode_table(prefix: str, z) -> Table:
    decoders = {}
    for i, name in enumerate(z[f"{prefix}names"].tolist()):
        key = f"{prefix}c{i}"
        if key in z:
            decoders[name] = lambda a=z[key]: a
        elif f"{key}_int" in z:
            decoders[name] = lambda a=z[f"{key}_int"]: a.astype(np.int64)
        elif f"{key}_text" in z:
            decoders[name] = lambda a=z[f"{key}_text"]: widen(a)
        else:
            decoders[name] = partial(_expand, z[f"{key}_strings"], z[f"{key}_codes"])
    return LazyTable(decoders)


def _expand(strings: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return widen(strings)[codes]


class LazyTable(Table):
    """A compiled table whose columns are decoded when used.

    Text columns as numpy str arrays take 4 bytes per character; most readers need few of them (validation
    only the file names, a scorer the columns of its outputs), so the others stay in their compact form. A
    decoded text column is not kept: the table lives as long as its dataset (shared by every scorer of a
    process), and keeping what each scorer once read would hold every column wide for good (about 200 MB at
    full size); decoding again costs milliseconds. Numeric columns are kept (they are small).
    """

    def __init__(self, decoders: dict):
        self._decoders = decoders
        self._decoded: dict[str, np.ndarray] = {}
        self._nrows = len(self[next(iter(decoders))]) if decoders else 0

    @property
    def columns(self) -> dict[str, np.ndarray]:  # type: ignore[override]  # every column, decoded
        return {n: self[n] for n in self._decoders}

    @property
    def nrows(self) -> int:
        return self._nrows

    @property
    def names(self) -> list[str]:
        return list(self._decoders)

    def __getitem__(self, name: str) -> np.ndarray:
        col = self._decoded.get(name)
        if col is None:
            col = self._decoders[name]()
            if col.dtype.kind != "U":
                self._decoded[name] = col
        return col

    def __contains__(self, name: object) -> bool:
        return name in self._decoders


def _small_int(values: np.ndarray) -> np.dtype:
    if values.size == 0:
        return np.dtype(np.int8)
    return np.result_type(np.min_scalar_type(int(values.min())), np.min_scalar_type(int(values.max())), np.int8)


def widen(strings: np.ndarray) -> np.ndarray:
    """Back to a numpy str array (what the CSV reader gives)."""
    return strings.astype(str) if strings.dtype.kind == "S" else strings


def narrow(strings: np.ndarray) -> np.ndarray:
    """ASCII text as 1 byte per character (numpy str arrays take 4); other text stays as it is."""
    try:
        return strings.astype(np.bytes_)
    except UnicodeEncodeError:
        return strings


def pack(sources: dict[str, bytes], arrays: dict[str, np.ndarray]) -> bytes:
    """An npz of ``arrays`` stamped with the format and the sha256 of each source CSV."""
    meta = {"__format__": np.array(FORMAT), "__sources__": np.array(sorted(sources), dtype=str),
            "__sha256__": np.array([_digest(sources[n]) for n in sorted(sources)], dtype=str)}
    buf = io.BytesIO()
    np.savez(buf, **meta, **arrays)  # type: ignore[arg-type]  # numpy's stub: a key might be allow_pickle
    return buf.getvalue()


def unpack(data: bytes, digests: dict[str, str]) -> dict[str, np.ndarray] | None:
    """Every array, or None unless ``data`` was packed by this format from exactly the sources whose hex sha256
    ``digests`` gives by name."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if str(z["__format__"]) != FORMAT or z["__sources__"].tolist() != sorted(digests):
                return None
            if z["__sha256__"].tolist() != [digests[n] for n in sorted(digests)]:
                return None
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, EOFError):
        return None   # unreadable: the CSVs are the truth
