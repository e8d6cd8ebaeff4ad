"""Malformed submissions, as an attacker or a careless user would make them (tests and ``make chaos``).

Each class takes the members of a valid submission archive and returns the bytes
of a bad archive; every one is tiny on disk yet was, before the limits, able to
cost gigabytes, a traceback, an "internal error" or a hang. ``variants(n)``
spreads each class over files, sizes and positions so that the chaos suite
runs hundreds of distinct archives. ``expect`` is the finding code (or codes)
validation must report for each class.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEX = "lexical/dev.txt"
SYN = "syntactic/dev.txt"


def members(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return {n: z.read(n) for n in z.namelist()}


def rezip(base: dict[str, bytes], changes: dict[str, bytes | None] | None = None,
          extra: list[tuple[zipfile.ZipInfo | str, bytes]] | None = None, stored: bool = False) -> bytes:
    """The base members with ``changes`` applied (None deletes) and ``extra`` added; ``stored`` = no
    compression, for classes that test a limit other than the compression ratio."""
    out = io.BytesIO()
    changes = changes or {}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as z:
        for n, data in base.items():
            if n in changes:
                if changes[n] is None:
                    continue
                data = changes[n]
            z.writestr(n, data)
        for n, data in changes.items():
            if n not in base and data is not None:
                z.writestr(n, data)
        for info, data in extra or []:
            z.writestr(info, data)
    return out.getvalue()


def npy_header(shape: tuple, descr: str = "<f4", fortran: bool = False) -> bytes:
    """A .npy header only (no body, or a short one): what declares the cost."""
    h = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode()
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _semantic(base: dict[str, bytes], k: int = 0) -> str:
    names = sorted(n for n in base if n.startswith("semantic/dev/") and n.endswith(".npy"))
    return names[k % len(names)]


def bomb_member(name: str, size: int) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info, b"\0" * size


# ---------------------------------------------------------------------------------------------- classes

def npy_wide(base, v):      # 8M features declared, 32 MB body (the 22.8 GB case) -> a header and a short body
    return rezip(base, {_semantic(base, v): npy_header((1, 8_000_000 + v)) + b"\0" * 64})


def npy_wide_full(base, v):   # a real, complete wide array (2M floats zipped to ~8 KB)
    return rezip(base, {_semantic(base, v): npy(np.zeros((1, 2_000_000 + v), np.float32))})


def npy_overflow(base, v):   # shape whose product overflows int64
    return rezip(base, {_semantic(base, v): npy_header((2 ** 40 + v, 2 ** 40))})


def npy_frames(base, v):
    return rezip(base, {_semantic(base, v): npy_header((10 ** 7 + v, 4))})


def npy_object(base, v):
    return rezip(base, {_semantic(base, v): npy_header((2, 3), descr="|O")})


def npy_garbage_header(base, v):
    return rezip(base, {_semantic(base, v): b"\x93NUMPY\x01\x00\x20\x00{'descr': " + b"(" * (30 + v)})


def npy_huge_header(base, v):
    return rezip(base, {_semantic(base, v): b"\x93NUMPY\x02\x00" + struct.pack("<I", 2 ** 31 + v) + b"{"})


def long_name_line(base, v):   # one 80,000-character name (the 6 GB case)
    lines = base[LEX].decode().splitlines()
    lines[v % len(lines)] = "a" * (80_000 + v) + " 1.0"
    return rezip(base, {LEX: ("\n".join(lines) + "\n").encode()})


def too_many_lines(base, v):
    return rezip(base, {SYN: b"x 1.0\n" * (500_000 + v)}, stored=True)


def bom(base, v):
    return rezip(base, {LEX: b"\xef\xbb\xbf" + base[LEX]})


def yaml_bomb(base, v):   # billion laughs: 1 KB of aliases
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9 + v % 3):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    target = "params.yaml" if v % 2 == 0 else "meta.yaml"
    return rezip(base, {target: ("\n".join(lines) + "\n").encode()})


def yaml_deep(base, v):
    depth = 5_000 + 100 * v
    text = ("semantic: " + "[" * depth + "]" * depth + "\n") if v % 2 == 0 else \
        "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "x: 1\n"
    target = "params.yaml" if v % 3 else "meta.yaml"
    return rezip(base, {target: text.encode()})


def yaml_big_value(base, v):   # a 10 MB value, echoed whole before
    return rezip(base, {"params.yaml": b"semantic:\n  metric: " + b"x" * (10_000_000 + v) + b"\n"}, stored=True)


def meta_nan(base, v):
    field = ("username", "model_info:\n  system_description", "publication:\n  authors")[v % 3]
    return rezip(base, {"meta.yaml": f"benchmark_name: sLM21\n{field}: .nan\n".encode()})


def zip_bomb(base, v):   # one member inflating to 96 MiB from ~100 KB
    return rezip(base, extra=[bomb_member(f"junk/bomb{v}.bin", (96 << 20) + v)])


def ratio_bomb(base, v):   # small enough for the member limit, but 1000-fold compressed
    return rezip(base, {LEX: base[LEX] + b"\n" * ((8 << 20) + v)})


def many_members(base, v, n: int = 6_000):   # real junk members (run with ZRC_LIMIT_MEMBERS=5000: a million
    # members take minutes to write; the limit is checked from the end record the same way)
    return rezip(base, extra=[(f"junk/{i:07d}.txt", b"") for i in range(n + v)])


def junk_files(base, v):   # many unexpected embedding files: findings capped
    return rezip(base, extra=[(f"semantic/dev/synthetic/zz{i:06d}.npy", b"") for i in range(3_000 + v)])


def long_member_name(base, v):
    return rezip(base, extra=[("d/" + "n" * (60_000 + v), b"x")])


def _flag(data: bytes, name: str, bit: int) -> bytes:
    """Set a general-purpose flag bit of one member in both its local and central headers."""
    out = bytearray(data)
    raw = name.encode()
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = 0
        while (pos := out.find(sig, pos)) >= 0:
            nlen_off = 26 if sig == b"PK\x03\x04" else 28
            nlen = struct.unpack_from("<H", out, pos + nlen_off)[0]
            start = pos + (30 if sig == b"PK\x03\x04" else 46)
            if bytes(out[start:start + nlen]) == raw:
                flags = struct.unpack_from("<H", out, pos + off)[0]
                struct.pack_into("<H", out, pos + off, flags | bit)
            pos += 4
    return bytes(out)


def encrypted(base, v):
    target = [LEX, SYN, _semantic(base, v)][v % 3]
    return _flag(rezip(base), target, 0x1)


def corrupt_deflate(base, v):
    data = bytearray(rezip(base, {LEX: base[LEX] * 4}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo(LEX)
    start = info.header_offset + 30 + len(LEX.encode()) + len(info.extra)
    for i in range(8):
        data[start + 3 + i + v % 16] ^= 0xA5
    return bytes(data)


def bad_crc(base, v):
    data = bytearray(rezip(base))
    raw = SYN.encode()
    pos = data.find(b"PK\x01\x02" + b"\0" * 0, data.rfind(b"PK\x05\x06") - 4096 * 64)
    while pos >= 0:   # the central directory entry of SYN: zipfile checks the CRC recorded there
        nlen = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46:pos + 46 + nlen]) == raw:
            crc = struct.unpack_from("<I", data, pos + 16)[0]
            struct.pack_into("<I", data, pos + 16, (crc + 1 + v) & 0xFFFFFFFF)
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    return bytes(data)


def not_a_zip(base, v):
    return (b"PK\x03\x04" + bytes(range(256)) * (1 + v))[: 300 + v]


def truncated_zip(base, v):
    data = rezip(base)
    return data[: len(data) // 2 + v]


def nonfinite(base, v):
    a = np.full((3, 6), np.nan if v % 2 else np.inf)
    return rezip(base, {_semantic(base, v): npy(a)})


def txt_big(base, v):   # .txt arrays (params) of a huge single line
    params = b"syntactic:\n  score_files_type: .txt\n"
    name = _semantic(base, v)[:-4] + ".txt"
    return rezip(base, {"params.yaml": params, name: b"1 " * (10_000_000 + v)}, stored=True)


@dataclass(frozen=True)
class AbuseClass:
    name: str
    make: Callable[[dict[str, bytes], int], bytes]
    expect: tuple[str, ...]   # finding codes of which at least one must be reported
    limits: dict | None = None   # limits lowered for this class (generating a million members takes minutes)


CLASSES: tuple[AbuseClass, ...] = (
    AbuseClass("npy_wide", npy_wide, ("array_too_large",)),
    AbuseClass("npy_wide_full", npy_wide_full, ("array_too_large", "compression_ratio")),
    AbuseClass("npy_overflow", npy_overflow, ("array_too_large",)),
    AbuseClass("npy_frames", npy_frames, ("array_too_large",)),
    AbuseClass("npy_object", npy_object, ("npy_object",)),
    AbuseClass("npy_garbage_header", npy_garbage_header, ("npy_format",)),
    AbuseClass("npy_huge_header", npy_huge_header, ("npy_format",)),
    AbuseClass("long_name_line", long_name_line, ("line_too_long",)),
    AbuseClass("too_many_lines", too_many_lines, ("too_many_lines",)),
    AbuseClass("bom", bom, ("bom",)),
    AbuseClass("yaml_bomb", yaml_bomb, ("params_yaml", "meta_yaml")),
    AbuseClass("yaml_deep", yaml_deep, ("params_yaml", "meta_yaml")),
    AbuseClass("yaml_big_value", yaml_big_value, ("params_yaml",)),
    AbuseClass("meta_nan", meta_nan, ("meta_type",)),
    AbuseClass("zip_bomb", zip_bomb, ("file_too_large",)),
    AbuseClass("ratio_bomb", ratio_bomb, ("compression_ratio",)),
    AbuseClass("many_members", many_members, ("limit",), {"members": 5000}),
    AbuseClass("junk_files", junk_files, ("extra_file",)),
    AbuseClass("long_member_name", long_member_name, ("name_too_long",)),
    AbuseClass("encrypted", encrypted, ("encrypted",)),
    AbuseClass("corrupt_deflate", corrupt_deflate, ("unreadable",)),
    AbuseClass("bad_crc", bad_crc, ("unreadable",)),
    AbuseClass("not_a_zip", not_a_zip, ("archive",)),
    AbuseClass("truncated_zip", truncated_zip, ("archive",)),
    AbuseClass("nonfinite", nonfinite, ("array_nonfinite",)),
    AbuseClass("txt_big", txt_big, ("array_too_large",)),
)


def variants(n: int) -> list[tuple[AbuseClass, int]]:
    """``n`` variants of every class (the chaos suite uses 8: 26 x 8 = 208 archives)."""
    return [(c, v) for c in CLASSES for v in range(n)]


# ------------------------------------------------------------------------------------ folder-only inputs

def folder_cases(sub: Path) -> dict[str, Callable[[Path], None]]:
    """Mutations of a submission folder that only exist on a disk (the CLI must refuse them clearly)."""
    import os

    def fifo(d: Path) -> None:
        os.mkfifo(d / "lexical" / "extra.txt")

    def dev_zero(d: Path) -> None:
        os.symlink("/dev/zero", d / "lexical" / "zero.txt")

    def non_utf8(d: Path) -> None:
        (d / os.fsdecode(b"lexical/bad\xff.txt")).write_bytes(b"x 1.0\n")

    return {"fifo": fifo, "dev_zero": dev_zero, "non_utf8": non_utf8}


def zlib_ok() -> bool:   # pragma: no cover - a sanity hook for the chaos script
    return zlib.ZLIB_VERSION is not None
