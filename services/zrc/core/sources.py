"""Read-only file trees: a folder or a zip archive, addressed by relative posix paths.

Datasets and submissions are both trees of files. Reading them through this one
small interface lets the same validation and scoring code run on a folder on
disk, an uploaded zip, or (in the services) an archive fetched from object
storage.
"""

from __future__ import annotations

import os
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO


class SourceError(ValueError):
    """The tree cannot be opened at all (missing folder, corrupt archive)."""


class FileTree(ABC):
    """A read-only tree of files with relative posix names."""

    label: str

    @abstractmethod
    def names(self) -> list[str]:
        """All regular files, relative posix paths, sorted."""

    @abstractmethod
    def read(self, name: str) -> bytes:
        """Whole content of one file; FileNotFoundError if absent."""

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

    def close(self) -> None:  # noqa: B027 - optional hook: only archives hold a handle
        """Release the underlying handle, if any."""


class DirTree(FileTree):
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: no such folder")
        self.label = str(self.root)
        self._names: list[str] | None = None

    def names(self) -> list[str]:
        if self._names is None:
            out = []
            root = str(self.root)
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames.sort()
                rel = os.path.relpath(dirpath, root)
                rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
                out.extend(rel + f for f in filenames)
            self._names = sorted(out)
        return self._names

    def read(self, name: str) -> bytes:
        path = self.root / PurePosixPath(name)
        with open(path, "rb") as fh:
            return fh.read()

    def path(self, name: str) -> Path:
        return self.root / PurePosixPath(name)


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
            self._names = [n for n in super().names() if not excluded_from_submission(n)]
        return self._names


class ZipTree(FileTree):
    """A zip archive, optionally rooted at a folder inside it."""

    def __init__(self, path: str | os.PathLike | BinaryIO, prefix: str = "", label: str | None = None):
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise SourceError(f"{label or path}: not a readable zip archive ({exc})") from None
        self.label = label or str(path)
        self.prefix = prefix
        names = []
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            n = info.filename
            if prefix and not n.startswith(prefix):
                continue
            rel = n[len(prefix):]
            # refuse absolute paths and traversal outright: names come from users
            if rel.startswith("/") or ".." in PurePosixPath(rel).parts:
                continue
            names.append(rel)
        self._names = sorted(names)

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        try:
            return self._zip.read(self.prefix + name)
        except KeyError:
            raise FileNotFoundError(name) from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise SourceError(f"{self.label}: {name} cannot be extracted ({exc})") from None

    def close(self) -> None:
        self._zip.close()


def open_tree(path: str | os.PathLike) -> FileTree:
    """A folder or a .zip file."""
    p = Path(path)
    if p.is_dir():
        return DirTree(p)
    if p.is_file():
        return ZipTree(p)
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

    def names(self) -> list[str]:
        return self._names

    def read(self, name: str) -> bytes:
        return self.tree.read(self.prefix + name)

    def close(self) -> None:
        self.tree.close()


def rooted(tree: FileTree, marker_suffixes: Iterable[str]) -> FileTree:
    prefix = find_root(tree, marker_suffixes)
    return SubTree(tree, prefix) if prefix else tree
