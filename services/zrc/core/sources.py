"""Read-only file trees: a folder or a zip archive, addressed by relative posix paths.

Datasets and submissions are both trees of files. Reading them through this one
small interface lets the same validation and scoring code run on a folder on
disk, an uploaded zip, or (in the services) an archive fetched from object
storage.

Archives come from anyone, so opening one checks the limits of
:mod:`zrc.core.limits` before anything is inflated: the member count is read
from the end-of-central-directory record (a million-entry directory is never
parsed), then total and per-member uncompressed sizes, compression ratios,
name lengths and encryption flags come from the directory. Whole-archive
problems raise :class:`LimitExceeded`; a bad member is left out of
``names()`` and reported in ``problems`` (validation turns them into
findings). Reads are bounded by the declared size, and a corrupt deflate
stream or an encrypted member is a :class:`SourceError`, never an internal
error. Folders list regular files only: a FIFO or a link to ``/dev/zero``
would otherwise hang or fill memory.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import stat
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO, cast

from .errors import InvalidArgument
from .limits import UNLIMITED, Limits, excerpt, limits


class SourceError(InvalidArgument):
    """The tree cannot be opened at all (missing folder, corrupt archive)."""

    code = "archive"


class LimitExceeded(SourceError):
    """The archive as a whole is over a limit (member count, total size); ``setting`` names it."""

    code = "limit"

    def __init__(self, name: str, message: str):
        self.limit = name
        self.setting = Limits.setting(name)
        super().__init__(f"{message} (limit {self.setting}={getattr(limits(), name)})")


# Member problems are (code, message, name); codes stable for tests and users.
Problem = tuple[str, str, str]
_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError,
                zlib.error, lzma.LZMAError)


class FileTree(ABC):
    """A read-only tree of files with relative posix names."""

    label: str

    @abstractmethod
    def names(self) -> list[str]:
        """All regular files, relative posix paths, sorted."""

    @abstractmethod
    def read(self, name: str) -> bytes:
        """Whole content of one file; FileNotFoundError if absent."""

    def sha256(self, name: str) -> str:
        """Hex sha256 of one file's content (a tree that knows it answers without reading the file)."""
        return hashlib.sha256(self.read(name)).hexdigest()

    def exists(self, name: str) -> bool:
        return name in self._name_set()

    def _name_set(self) -> set[str]:
        cached = getattr(self, "_names_cache", None)
        if cached is None:
            cached = set(self.names())
            self._names_cache = cached
        return cached

    def under(self, prefix: str) -> list[str]:
        """Files below folder ``prefix`` (recursive)."""
        p = prefix.rstrip("/") + "/"
        return [n for n in self.names() if n.startswith(p)]

    def open(self, name: str) -> BinaryIO:
        """A binary stream of one file (readers that check a header before the body use it)."""
        return io.BytesIO(self.read(name))

    def size(self, name: str) -> int | None:
        """The file's size if known without reading it (checked against limits before a read)."""
        return None

    problems: list[Problem] = []   # files left out of names() and why (archives from users)

    def close(self) -> None:  # noqa: B027 - optional hook: only archives hold a handle
        """Release the underlying handle, if any."""


class DirTree(FileTree):
    def __init__(self, root: str | os.PathLike, trusted: bool = False):
        self.root = Path(root)
        self._root = str(self.root)
        self._trusted = trusted
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: no such folder")
        self.label = str(self.root)
        self._names: list[str] | None = None
        self._special: set[str] = set()   # listed names whose entry is a link or not a regular file

    def names(self) -> list[str]:
        """Every file under the root, sorted, links to folders not followed (as ``os.walk`` does).

        One ``scandir`` pass: the entry type comes with the listing, so a plain file costs no ``stat``
        (a submission has ~40k of them); links and special files are noted for whoever must check them.
        """
        if self._names is None:
            out: list[str] = []
            folders = [("", self._root)]
            while folders:
                rel, path = folders.pop()
                try:
                    entries = list(os.scandir(path))
                except OSError:
                    continue   # unreadable folder: skipped, as os.walk does
                for e in entries:
                    if e.is_dir(follow_symlinks=False):
                        folders.append((rel + e.name + "/", e.path))
                        continue
                    if not e.is_file(follow_symlinks=False):
                        try:
                            if e.is_symlink() and e.is_dir():
                                continue   # a link to a folder: not followed
                        except OSError:
                            pass
                        self._special.add(rel + e.name)
                    out.append(rel + e.name)
            self._names = sorted(out)
        return self._names

    def read(self, name: str) -> bytes:
        cap, setting = member_cap(name, UNLIMITED if self._trusted else limits())
        with self.open(name) as fh:
            data = fh.read() if self._trusted else fh.read(cap + 1)
        if len(data) > cap:
            raise SourceError(f"{name}: larger than {cap} bytes (limit {Limits.setting(setting)})")
        return data

    def open(self, name: str) -> BinaryIO:
        """The file, refused unless it is a regular file (after links). Opened non-blocking and checked on the
        descriptor: a FIFO neither blocks the open nor gets read, and a plain file costs one system call."""
        try:
            fd = os.open(os.path.join(self._root, name), os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise _unreadable(name, exc) from None
        try:
            _refuse_special(os.fstat(fd).st_mode, name)
        except BaseException:
            os.close(fd)
            raise
        return open(fd, "rb")

    def size(self, name: str) -> int | None:
        try:
            return os.stat(os.path.join(self._root, name)).st_size
        except OSError:
            return None

    def path(self, name: str) -> Path:
        return self.root / PurePosixPath(name)


def check_regular(path: str | os.PathLike, name: str) -> None:
    """Refuse anything but a regular file (after links): a FIFO blocks a reader, /dev/zero never ends."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _unreadable(name, exc) from None
    _refuse_special(st.st_mode, name)


def _unreadable(name: str, exc: OSError) -> SourceError:
    return SourceError(f"{name}: cannot be read ({exc.strerror})")


def _refuse_special(mode: int, name: str) -> None:
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode)
                or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
        raise SourceError(f"{name}: is {kind}, not a regular file; only regular files can be submitted")


def _entry_count(fp: BinaryIO | io.RawIOBase) -> int | None:
    """Members announced by the end-of-central-directory record, read before the directory itself.

    ``zipfile`` builds a ZipInfo per entry on open (a million entries cost ~0.7 GB), so the count is checked
    first. ``_EndRecData`` is the record reader zipfile itself uses (stable since Python 2); None if absent.
    """
    try:
        rec = zipfile._EndRecData(fp)  # type: ignore[attr-defined]  # noqa: SLF001 - see the docstring
        fp.seek(0)
    except (OSError, ValueError, AttributeError):
        return None
    return None if rec is None else int(rec[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]  # noqa: SLF001


def excluded_from_submission(rel: str) -> bool:
    """Files a submission folder holds that are not part of the submission: hidden files and folders, and the
    top-level ``scores/`` folder the evaluation writes into. The archive sent to a server and the folder
    evaluated in place leave out the same files, so both give the same findings and scores."""
    parts = rel.split("/")
    return any(p.startswith(".") for p in parts) or (len(parts) > 1 and parts[0] == "scores")


class SubmissionDirTree(DirTree):
    """A submission folder read in place (embedded mode), without what :func:`excluded_from_submission` drops."""

    def names(self) -> list[str]:
        if self._names is None:
            kept, self._problems = [], []
            for n in super().names():
                if excluded_from_submission(n):
                    continue
                try:
                    n.encode("utf-8")
                except UnicodeEncodeError:   # a zip could not carry it either: refused, named readably
                    shown = n.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                    self._problems.append(("bad_name", f"{excerpt(shown)}: the file name is not valid UTF-8; "
                                           "rename it", excerpt(shown)))
                    continue
                if n in self._special:   # a link or a special file; plain files need no check
                    try:   # the archive builder refuses these; in place they are left out with an error finding
                        check_regular(os.path.join(self._root, n), n)
                    except SourceError as exc:
                        self._problems.append(("not_a_file", str(exc), n))
                        continue
                kept.append(n)
            self._names = kept
        return self._names

    @property
    def problems(self) -> list[Problem]:  # type: ignore[override]  # computed with names()
        self.names()
        return self._problems


class ZipTree(FileTree):
    """A zip archive, optionally rooted at a folder inside it, opened within the limits."""

    def __init__(self, path: str | os.PathLike | BinaryIO | io.RawIOBase, prefix: str = "", label: str | None = None,
                 trusted: bool = False):
        """``trusted``: an organiser's dataset (the official zip has ~10^5 wav members), not user input."""
        lim = UNLIMITED if trusted else limits()
        self._lim = lim
        self.label = label or str(path)
        fp = open(path, "rb") if isinstance(path, str | os.PathLike) else path  # noqa: SIM115 - kept open
        self._own = fp is not path
        try:
            size = fp.seek(0, os.SEEK_END)
            fp.seek(0)
            if size > lim.archive_bytes:
                raise LimitExceeded("archive_bytes", f"{self.label}: the archive is {size} bytes")
            count = _entry_count(fp)
            if count is not None and count > lim.members:
                raise LimitExceeded("members", f"{self.label}: the archive has {count} files")
            try:
                self._zip = zipfile.ZipFile(fp)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise SourceError(f"{self.label}: not a readable zip archive ({excerpt(str(exc))})") from None
        except BaseException:
            if self._own:
                fp.close()
            raise
        self.prefix = prefix
        self.problems: list[Problem] = []
        names = []
        total = 0
        infos = self._zip.infolist()
        if len(infos) > lim.members:
            self.close()
            raise LimitExceeded("members", f"{self.label}: the archive has {len(infos)} files")
        for info in infos:
            if info.is_dir():
                continue
            n = info.filename
            if prefix and not n.startswith(prefix):
                continue
            rel = n[len(prefix):]
            # refuse absolute paths and traversal outright: names come from users
            if rel.startswith("/") or ".." in PurePosixPath(rel).parts:
                continue
            total += info.file_size
            problem = _member_problem(info, rel, lim)
            if problem is not None:
                self.problems.append(problem)
                continue
            names.append(rel)
        if total > lim.total_bytes:
            self.close()
            raise LimitExceeded("total_bytes", f"{self.label}: the files inflate to {total} bytes")
        self._names = sorted(names)

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        with self.open(name) as fh:
            try:
                return fh.read(-1 if self._lim is UNLIMITED else member_cap(name, self._lim)[0])
            except _READ_ERRORS as exc:
                raise SourceError(f"{name} cannot be extracted ({excerpt(str(exc))})") from None

    def size(self, name: str) -> int | None:
        try:
            return self._zip.getinfo(self.prefix + name).file_size
        except KeyError:
            return None

    def open(self, name: str) -> BinaryIO:
        try:
            fh = self._zip.open(self.prefix + name)
        except KeyError:
            raise FileNotFoundError(name) from None
        except _READ_ERRORS as exc:
            raise SourceError(f"{name} cannot be extracted ({excerpt(str(exc))})") from None
        return cast(BinaryIO, _Guarded(fh, name))   # a raw stream: what readers of open() use of BinaryIO

    def close(self) -> None:
        zf = getattr(self, "_zip", None)
        if zf is not None:
            zf.close()
            fp = zf.fp
            if self._own and fp is not None:
                fp.close()


class _Guarded(io.RawIOBase):
    """A member stream whose decompression errors (corrupt deflate, bad CRC) become SourceError."""

    def __init__(self, fh: IO[bytes], name: str):
        self._fh, self._name = fh, name

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        try:
            return self._fh.read(n)
        except _READ_ERRORS as exc:
            raise SourceError(f"{self._name} cannot be extracted ({excerpt(str(exc))})") from None

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def member_cap(rel: str, lim: Limits) -> tuple[int, str]:
    """(largest uncompressed size, the setting that says so) of the file ``rel``. A pooled-vectors npz holds one
    float64 row per embedding file of a set: 16,332 x 768 x 8 = 100 MB for a HuBERT-sized submission, more
    than any single file of a raw one, so it has its own cap (``ZRC_LIMIT_POOLED_BYTES``)."""
    if rel.startswith("pooled/") and rel.endswith(".npz"):
        return lim.pooled_bytes, "pooled_bytes"
    return lim.member_bytes, "member_bytes"


def _member_problem(info: zipfile.ZipInfo, rel: str, lim: Limits) -> Problem | None:
    """Why one member cannot be read within the limits, from its directory entry alone."""
    shown = excerpt(rel, 60)
    if len(rel) > lim.name_chars:
        return ("name_too_long", f"a file name of {len(rel)} characters (limit {Limits.setting('name_chars')}="
                f"{lim.name_chars}): '{shown}'", shown)
    if info.flag_bits & 0x1:
        return ("encrypted", "the file is encrypted; submit an archive without a password", rel)
    cap, setting = member_cap(rel, lim)
    if info.file_size > cap:
        return ("file_too_large", f"the file inflates to {info.file_size} bytes (limit "
                f"{Limits.setting(setting)}={cap})", rel)
    if info.file_size > (1 << 20) and info.file_size > lim.ratio * max(info.compress_size, 1):
        return ("compression_ratio", f"the file is compressed {info.file_size // max(info.compress_size, 1)}-fold "
                f"(limit {Limits.setting('ratio')}={lim.ratio}): a zip bomb is refused", rel)
    return None


def open_tree(path: str | os.PathLike, trusted: bool = False) -> FileTree:
    """A folder or a .zip file (``trusted``: an organiser's dataset, read without the input limits)."""
    p = Path(path)
    if p.is_dir():
        return DirTree(p, trusted=trusted)
    if p.is_file():
        return ZipTree(p, trusted=trusted)
    raise SourceError(f"{p}: no such file or folder")


def find_root(tree: FileTree, marker_suffixes: Iterable[str]) -> str:
    """The folder prefix under which one of ``marker_suffixes`` lives ('' for the top).

    Official archives may or may not wrap their content in a top-level folder
    (``sLM21-dataset/lexical/dev/gold.csv``); this finds the shallowest match.
    """
    best: str | None = None
    for marker in marker_suffixes:
        for n in tree.names():
            if n == marker or n.endswith("/" + marker):
                prefix = n[: len(n) - len(marker)]
                if best is None or prefix.count("/") < best.count("/"):
                    best = prefix
    if best is None:
        raise SourceError(f"{tree.label}: none of {', '.join(marker_suffixes)} found")
    return best


class SubTree(FileTree):
    """A view of ``tree`` below ``prefix``."""

    def __init__(self, tree: FileTree, prefix: str):
        self.tree = tree
        self.prefix = prefix
        self.label = tree.label + ("/" + prefix.rstrip("/") if prefix else "")
        self._names = [n[len(prefix):] for n in tree.names() if n.startswith(prefix)]
        self.problems = tree.problems

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        return self.tree.read(self.prefix + name)

    def open(self, name: str) -> BinaryIO:
        return self.tree.open(self.prefix + name)

    def size(self, name: str) -> int | None:
        return self.tree.size(self.prefix + name)

    def close(self) -> None:
        self.tree.close()


def rooted(tree: FileTree, marker_suffixes: Iterable[str]) -> FileTree:
    prefix = find_root(tree, marker_suffixes)
    return SubTree(tree, prefix) if prefix else tree
