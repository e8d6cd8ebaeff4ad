"""Submission folders evaluated in place by the embedded stack (``ZRC_SERVER`` unset).

A server only ever reads archives it stored; it must never open a path a request names. The embedded stack
runs inside the user's own CLI process, so there the CLI may hand it the folder itself and skip building,
hashing and copying an archive (4.6 GB per run for a 768-dim submission). That hand-off does not go through
the wire as a path: the CLI registers the folder with this in-process registry, which returns an opaque
random reference; requests carry only the reference. Another process that reaches the embedded gateway's
loopback port cannot name a path of its own, and a server (which has no registry) refuses any reference.

The folder's ``submission_digest`` is a fingerprint of its listing (relative names, sizes, modification
times in ns), so results cached under it stay valid until a file changes, and a changed file re-scores.

Pooled embeddings of a local submission go from the validation service to the semantic scorer in memory
(both live in this process), so no derived copy of the submission is written to ``ZRC_HOME`` either.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from pathlib import Path

from zrc.core.errors import InvalidArgument
from zrc.core.sources import SourceError, SubmissionDirTree


class LocalRefError(InvalidArgument):
    """A local folder reference refused or unknown here (INVALID_ARGUMENT, like any bad request field)."""


REFUSED = ("local folder references are accepted only by the embedded stack (ZRC_SERVER unset); "
           "upload the submission to a server instead")


def fingerprint(tree: SubmissionDirTree) -> str:
    """sha256 of the folder's absolute path and (name, size, mtime_ns) of every file it evaluates."""
    h = hashlib.sha256(b"zrc-local-folder-v1\0" + str(tree.root.resolve()).encode() + b"\0")
    for name in tree.names():
        st = os.stat(tree.path(name))
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class LocalFolders:
    """The embedded stack's registry of folders its own process asked it to evaluate in place."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folders: dict[str, Path] = {}
        self._pooled: dict[str, dict] = {}

    def register(self, folder: str | os.PathLike) -> tuple[str, str]:
        """(reference, digest) of a folder; SourceError if it is not one."""
        tree = SubmissionDirTree(Path(folder).resolve())
        digest = fingerprint(tree)
        ref = "local-" + secrets.token_hex(16)
        with self._lock:
            self._folders[ref] = tree.root
        return ref, digest

    def path(self, ref: str) -> Path:
        with self._lock:
            path = self._folders.get(ref)
        if path is None:
            raise LocalRefError(f"unknown local folder reference {ref[:24]!r} (it lives only as long as the "
                                "`zrc` command that made it); run the command again")
        return path

    def open(self, ref: str) -> SubmissionDirTree:
        try:
            return SubmissionDirTree(self.path(ref))
        except SourceError as exc:
            raise LocalRefError(f"{exc}: the submission folder went away") from None

    # pooled embeddings handed from validation to the semantic scorer, in memory -----------------------
    def put_pooled(self, key: str, pooled: dict) -> None:
        with self._lock:
            self._pooled[key] = pooled

    def take_pooled(self, key: str) -> dict | None:
        """The pooled vectors once (the scorer frees them); None if validation did not leave them."""
        with self._lock:
            return self._pooled.pop(key, None)
