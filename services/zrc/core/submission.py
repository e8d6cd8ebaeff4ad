"""Reading submission content: score text files and embedding arrays.

Score files hold one ``<stem> <float>`` per line, single-space separated (the
reference reads them with ``read_csv(sep=' ', header=None)``). Well-formed files,
the overwhelming majority, are parsed with C-level string splitting and numpy
conversion; only a malformed file is walked line by line, to report every bad
line with its number.

Embeddings are ``.npy`` (or ``.txt`` when params ask for it) 2-D float arrays.
``.npy`` headers are parsed directly for speed, with ``np.load(allow_pickle=False)``
as the fallback, so a pickled/object array is an error, never code execution.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np

from .findings import Findings


@dataclass
class ScoreFile:
    names: np.ndarray      # str stems, file order
    scores: np.ndarray     # float64
    lines: np.ndarray      # 1-based line number of each entry


def parse_score_file(data: bytes, file: str, findings: Findings) -> ScoreFile:
    """Parse a ``<stem> <float>`` file; problems go to ``findings`` with line numbers."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        findings.error("encoding", f"not UTF-8 text (byte {exc.start})", file)
        return ScoreFile(np.empty(0, str), np.empty(0), np.empty(0, np.int64))
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    body = text.rstrip("\n")
    if not body:
        return ScoreFile(np.empty(0, str), np.empty(0), np.empty(0, np.int64))
    n_lines = body.count("\n") + 1
    tokens = body.split()
    clean = (
        len(tokens) == 2 * n_lines
        and "\t" not in body and "  " not in body and " \n" not in body and "\n " not in body
        and not body.startswith(" ") and not body.endswith(" ") and "\r" not in body
    )
    if clean:
        names = np.asarray(tokens[0::2], dtype=str)
        try:
            scores = np.asarray(tokens[1::2], dtype=str).astype(np.float64)
        except ValueError:
            pass
        else:
            return ScoreFile(names, scores, np.arange(1, n_lines + 1, dtype=np.int64))
    return _parse_slow(body, file, findings)


def _parse_slow(body: str, file: str, findings: Findings) -> ScoreFile:
    names, scores, lines = [], [], []
    for lineno, line in enumerate(body.split("\n"), start=1):
        if not line.strip():
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            if "\t" in line:
                why = "a tab separates the fields"
            elif len(line.split()) == 2:
                why = "extra spaces around the fields"
            else:
                why = f"found {len(line.split())} field(s)"
            findings.error("bad_line", f"expected '<filename> <score>' separated by one space ({why}): "
                           f"{line[:60]!r}", file, lineno)
            continue
        try:
            value = float(parts[1])
        except ValueError:
            findings.error("bad_score", f"score {parts[1][:30]!r} of {parts[0]!r} is not a number", file, lineno)
            continue
        names.append(parts[0])
        scores.append(value)
        lines.append(lineno)
    return ScoreFile(np.asarray(names, dtype=str), np.asarray(scores, dtype=np.float64),
                     np.asarray(lines, dtype=np.int64))


class ArrayError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_HEADER = re.compile(
    rb"^\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': (True|False), 'shape': \(([\d, ]*)\), \}\s*$"
)


def load_npy(data: bytes) -> np.ndarray:
    """Decode ``.npy`` bytes without ever unpickling."""
    if data[:6] != b"\x93NUMPY" or len(data) < 10:
        raise ArrayError("npy_format", "not a .npy file (bad magic bytes)")
    major = data[6]
    start = 10 if major == 1 else 12
    hlen = int.from_bytes(data[8:start], "little")
    m = _HEADER.match(data[start:start + hlen])
    if m is not None and m.group(2) == b"False":
        try:
            dtype = np.dtype(m.group(1).decode())
        except TypeError:
            dtype = None
        if dtype is not None and dtype.kind in "biufc":  # plain numbers only; anything else via np.load
            shape_s = m.group(3).decode().strip()
            shape = tuple(int(x) for x in shape_s.split(",") if x.strip()) if shape_s else ()
            count = int(np.prod(shape)) if shape else 1
            offset = start + hlen
            if len(data) - offset < count * dtype.itemsize:
                raise ArrayError("npy_format", "truncated .npy file")
            return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except MemoryError:
        raise ArrayError("npy_format", "the .npy header declares an impossibly large array") from None
    except Exception as exc:  # noqa: BLE001 - numpy raises many types on malformed headers (even tokenize errors)
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise ArrayError("npy_object", "object/pickled arrays are not accepted; save a float array") from None
        raise ArrayError("npy_format", f"unreadable .npy file ({type(exc).__name__}: {exc})"[:200]) from None


def load_txt(data: bytes) -> np.ndarray:
    try:
        return np.loadtxt(io.BytesIO(data), ndmin=0)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file, not our bug
        raise ArrayError("txt_format", f"unreadable text array ({exc})") from None


def load_array(data: bytes, ext: str) -> np.ndarray:
    return load_npy(data) if ext == ".npy" else load_txt(data)


def check_array(arr: np.ndarray) -> tuple[str, str] | None:
    """(code, message) of the first problem of an embedding array, None if fine."""
    if arr.dtype.kind != "f":
        return "array_dtype", f"array must be float16/32/64, found {arr.dtype}"
    if arr.ndim != 2:
        return "array_ndim", f"array must be 2-D (frames x features), found {arr.ndim}-D shape {arr.shape}"
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        return "array_empty", f"array is empty, shape {arr.shape}"
    if not np.isfinite(arr).all():
        return "array_nonfinite", "array contains NaN or infinite values"
    return None
