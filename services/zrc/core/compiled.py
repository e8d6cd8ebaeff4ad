"""Gold/pairs tables compiled to a compact binary form at dataset import (``gold.csv`` -> ``gold.npz``).

Parsing the CSVs (type inference of every cell, ~240k lexical rows) is most of what a service spends to get
a dataset ready, and every scorer process does it again. At import the parsed :class:`Table` is stored next
to its CSV as an ``.npz``: numeric columns as they are, text columns as int32 codes into one array of their
distinct strings (each string stored once). Loading is a few ``np.load`` reads, no parsing, no pickles.

The compiled file records the sha256 of the CSV it was made from and a format version; a reader uses it only
when both match, otherwise it parses the CSV (old imports, a dataset folder edited since, a newer format),
so a stale compiled file can never change a score.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np

from .table import Table

FORMAT = "zrc-gold-1"


def compiled_name(csv_name: str) -> str:
    """``lexical/dev/gold.csv`` -> ``lexical/dev/gold.npz``."""
    return csv_name[:-4] + ".npz" if csv_name.endswith(".csv") else csv_name + ".npz"


def compile_table(table: Table, source: bytes) -> bytes:
    arrays: dict[str, np.ndarray] = {
        "__format__": np.array(FORMAT), "__source_sha256__": np.array(hashlib.sha256(source).hexdigest()),
        "__names__": np.array(table.names, dtype=str),
    }
    for i, name in enumerate(table.names):
        col = table[name]
        if col.dtype.kind in "iuf":
            arrays[f"c{i}"] = col
        else:
            uniq, codes = np.unique(np.asarray(col, dtype=str), return_inverse=True)
            arrays[f"c{i}_strings"] = uniq
            arrays[f"c{i}_codes"] = codes.astype(np.int32)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def load_compiled(data: bytes, source: bytes) -> Table | None:
    """The table, or None if ``data`` was not compiled from ``source`` by this format (parse the CSV then)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if str(z["__format__"]) != FORMAT:
                return None
            if str(z["__source_sha256__"]) != hashlib.sha256(source).hexdigest():
                return None
            cols = {}
            for i, name in enumerate(z["__names__"].tolist()):
                if f"c{i}" in z.files:
                    cols[name] = z[f"c{i}"]
                else:
                    cols[name] = z[f"c{i}_strings"][z[f"c{i}_codes"]]
            return Table(cols)
    except (OSError, ValueError, KeyError, EOFError):
        return None   # unreadable: the CSV is the truth
