"""Reading submission content: score text files and embedding arrays.

Score files hold one ``<stem> <float>`` per line, single-space separated (the
reference reads them with ``read_csv(sep=' ', header=None)``). Well-formed files,
the overwhelming majority, are parsed with C-level string splitting and numpy
conversion; only a malformed file is walked line by line, to report every bad
line with its number.

Embeddings are ``.npy`` (or ``.txt`` when params ask for it) 2-D float arrays.
The ``.npy`` header is read first (``np.lib.format``, no pickles) and the shape
checked against the limits before a byte of the body is read: a 32 MB file
declaring 8 million features would otherwise make pooled vectors of files x
8M floats, and a shape whose product overflows int64 is refused as such.

Score files are bounded too: line count, line length (a name of 80,000
characters becomes an 80,000-wide numpy string column) and a UTF-8 byte-order
mark is stripped with a warning rather than glued to the first name.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from .findings import Findings
from .limits import Limits, excerpt, limits, quoted

BOM = b"\xef\xbb\xbf"


@dataclass
class ScoreFile:
    names: np.ndarray      # str stems, file order
    scores: np.ndarray     # float64
    lines: np.ndarray      # 1-based line number of each entry


def parse_score_file(data: bytes, file: str, findings: Findings) -> ScoreFile:
    """Parse a ``<stem> <float>`` file; problems go to ``findings`` with line numbers."""
    empty = ScoreFile(np.empty(0, str), np.empty(0), np.empty(0, np.int64))
    if data.startswith(BOM):
        findings.warning("bom", "a UTF-8 byte-order mark opens the file; it was ignored", file, 1)
        data = data[len(BOM):]
    if len(data) > limits().score_bytes:
        findings.error("file_too_large", f"a score file of {len(data)} bytes (limit "
                       f"{Limits.setting('score_bytes')}={limits().score_bytes})", file)
        return empty
    if _over_limits(data, file, findings):
        return empty
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        findings.error("encoding", f"not UTF-8 text (byte {exc.start})", file)
        return ScoreFile(np.empty(0, str), np.empty(0), np.empty(0, np.int64))
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    body = text.rstrip("\n")
    del text   # a copy when the file ends with a newline: not both held while parsing
    if not body:
        return ScoreFile(np.empty(0, str), np.empty(0), np.empty(0, np.int64))
    clean = ("\t" not in body and "  " not in body and " \n" not in body and "\n " not in body
             and not body.startswith(" ") and not body.endswith(" ") and "\r" not in body)
    fast = _parse_clean(body) if clean else None
    return fast if fast is not None else _parse_slow(body, file, findings)


_BLOCK_CHARS = 1 << 20   # ~40k lines: their tokens as Python strings are ~5 MB


def _parse_clean(body: str) -> ScoreFile | None:
    """Fast path: every line is exactly ``name score``; None otherwise (the careful path reports why).

    Split a block of lines at a time: the tokens of a whole 320k-line file as Python strings were ~40 MB,
    held next to the arrays made of them (validation and the lexical scorer peaked on it). ASCII names are
    held as bytes until they are all read (numpy str takes 4 bytes a character)."""
    as_bytes = body.isascii() and "\x00" not in body
    names, scores = [], []
    start, end = 0, len(body)
    while start < end:
        stop = body.find("\n", start + _BLOCK_CHARS, end)
        stop = end if stop < 0 else stop
        block = body[start:stop]
        tokens = block.split()
        if len(tokens) != 2 * (block.count("\n") + 1):
            return None
        names.append(np.asarray(tokens[0::2], dtype=np.bytes_ if as_bytes else str))
        try:
            scores.append(np.asarray(tokens[1::2], dtype=str).astype(np.float64))
        except ValueError:
            return None
        start = stop + 1
    n = sum(len(b) for b in names)
    cat = np.concatenate(names)
    del names
    return ScoreFile(cat.astype(str) if as_bytes else cat, np.concatenate(scores),
                     np.arange(1, n + 1, dtype=np.int64))


def _over_limits(data: bytes, file: str, findings: Findings) -> bool:
    """Line count and line length, from newline positions (vectorised), before any decoding or splitting."""
    lim = limits()
    nl = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    n_lines = nl.size + (1 if data and not data.endswith(b"\n") else 0)
    if n_lines > lim.score_lines:
        findings.error("too_many_lines", f"{n_lines} lines (limit {Limits.setting('score_lines')}="
                       f"{lim.score_lines}); nothing of this file was read", file)
        return True
    ends = np.append(nl, len(data))
    lengths = np.diff(np.concatenate(([-1], ends))) - 1
    long = np.flatnonzero(lengths > lim.line_chars)
    if long.size:
        k = int(long[0])
        start = int(ends[k - 1]) + 1 if k else 0
        findings.error("line_too_long", f"{long.size} line(s) longer than {lim.line_chars} characters "
                       f"(limit {Limits.setting('line_chars')}), e.g. line {k + 1} of {int(lengths[k])}: "
                       f"{quoted(data[start:start + lim.excerpt_chars].decode('utf-8', 'replace'))}; "
                       "nothing of this file was read", file, k + 1)
        return True
    return False


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
            findings.error("bad_score", f"score {quoted(parts[1], 30)} of {quoted(parts[0])} is not a number",
                           file, lineno)
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


def load_npy(data: bytes) -> np.ndarray:
    """Decode ``.npy`` bytes without ever unpickling (see :func:`read_npy`)."""
    return read_npy(io.BytesIO(data))


_HEADER = re.compile(
    rb"^\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': (True|False), 'shape': \(([\d, ]*)\), \}\s*$"
)


def npy_header(fh: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran, dtype) of a ``.npy`` stream, leaving it at the first byte of the body.

    The common header (what ``np.save`` writes) is matched by a regular expression, ~40k files a
    submission; anything else goes through ``np.lib.format`` (literal_eval, never unpickling).
    """
    pre = fh.read(8)
    if len(pre) < 8 or pre[:6] != b"\x93NUMPY":
        raise ArrayError("npy_format", "not a .npy file (bad magic bytes)")
    major = pre[6]
    if major not in (1, 2, 3):
        raise ArrayError("npy_format", f"unsupported .npy version {major}")
    size_bytes = fh.read(2 if major == 1 else 4)
    hlen = int.from_bytes(size_bytes, "little")
    if hlen > 10_000:
        raise ArrayError("npy_format", f"a .npy header of {hlen} bytes (numpy writes a few hundred)")
    header = fh.read(hlen)
    m = _HEADER.match(header)
    if m is not None:
        try:
            dtype = np.dtype(m.group(1).decode())
        except TypeError:
            dtype = None
        if dtype is not None:
            shape_s = m.group(3).decode().strip()
            shape = tuple(int(x) for x in shape_s.split(",") if x.strip()) if shape_s else ()
            return shape, m.group(2) == b"True", dtype
    again = io.BytesIO(pre + size_bytes + header)
    again.seek(8)
    try:
        if major == 1:
            return np.lib.format.read_array_header_1_0(again)
        return np.lib.format.read_array_header_2_0(again)
    except Exception as exc:  # noqa: BLE001 - numpy raises many types on malformed headers (even tokenize errors)
        text = str(exc)
        if "object" in text.lower() or "pickle" in text.lower():
            raise ArrayError("npy_object", "object/pickled arrays are not accepted; save a float array") from None
        raise ArrayError("npy_format", f"unreadable .npy header ({type(exc).__name__}: {excerpt(text)})") from None


def read_npy(fh: BinaryIO) -> np.ndarray:
    """Read a ``.npy`` stream: header first, checked against the limits, then exactly the body it declares."""
    shape, fortran, dtype = npy_header(fh)
    if dtype.hasobject or dtype.kind not in "biufc" or dtype.fields is not None:
        if dtype.hasobject:
            raise ArrayError("npy_object", "object/pickled arrays are not accepted; save a float array")
        raise ArrayError("array_dtype", f"array must be float16/32/64, found {excerpt(str(dtype))}")
    lim = limits()
    count = math.prod(shape)   # Python ints: a shape whose product overflows int64 is still just big
    nbytes = count * dtype.itemsize
    if nbytes > lim.array_bytes:
        raise ArrayError("array_too_large", f"the header declares shape {excerpt(str(shape), 60)} of "
                         f"{dtype}, {nbytes} bytes (limit {Limits.setting('array_bytes')}={lim.array_bytes})")
    if len(shape) == 2 and shape[0] > lim.array_frames:
        raise ArrayError("array_too_large", f"{shape[0]} frames (limit {Limits.setting('array_frames')}="
                         f"{lim.array_frames})")
    if len(shape) == 2 and shape[1] > lim.array_features:
        raise ArrayError("array_too_large", f"{shape[1]} features (limit {Limits.setting('array_features')}="
                         f"{lim.array_features})")
    body = fh.read(nbytes)
    if len(body) < nbytes:
        raise ArrayError("npy_format", "truncated .npy file")
    arr = np.frombuffer(body, dtype=dtype, count=count)
    return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)


def load_txt(data: bytes) -> np.ndarray:
    lim = limits()
    if len(data) > lim.array_bytes // 4:   # parsing costs several times the text: bound the text
        raise ArrayError("array_too_large", f"a text array of {len(data)} bytes (limit "
                         f"{Limits.setting('array_bytes')}/4={lim.array_bytes // 4})")
    try:
        arr = np.loadtxt(io.BytesIO(data), ndmin=0)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file, not our bug
        raise ArrayError("txt_format", f"unreadable text array ({excerpt(str(exc))})") from None
    if arr.ndim == 2 and arr.shape[1] > lim.array_features:
        raise ArrayError("array_too_large", f"{arr.shape[1]} features (limit {Limits.setting('array_features')}="
                         f"{lim.array_features})")
    return arr


def read_array(fh: BinaryIO, ext: str) -> np.ndarray:
    """One embedding file from a stream: ``.npy`` header checked before its body is read."""
    if ext == ".npy":
        return read_npy(fh)
    return load_txt(fh.read(limits().array_bytes // 4 + 1))


def check_array(arr: np.ndarray) -> tuple[str, str] | None:
    """(code, message) of the first problem of an embedding array, None if fine."""
    if arr.dtype.kind != "f":
        return "array_dtype", f"array must be float16/32/64, found {arr.dtype}"
    if arr.ndim != 2:
        return "array_ndim", (f"array must be 2-D (frames x features), found {arr.ndim}-D shape "
                              f"{excerpt(str(arr.shape), 60)}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        return "array_empty", f"array is empty, shape {arr.shape}"
    if not np.isfinite(arr).all():
        return "array_nonfinite", "array contains NaN or infinite values"
    return None
