"""Imported datasets: importing and removing them, and loading them from storage once per content digest (shared
by the services of a process)."""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

from zrc.core.sources import ZipTree
from zrc.lazy import lazy_module
from zrc.storage import DATASETS, NotFound, Storage, StorageTree, keys

if TYPE_CHECKING:
    from zrc.core import dataset as core_dataset
    from zrc.core.dataset import Dataset
else:   # numpy: loaded when a dataset is first parsed, not by a gateway that only lists datasets
    core_dataset = lazy_module("zrc.core.dataset")


class DatasetCache:
    """Datasets loaded from storage, kept in memory per content digest (gold parsing is the slow part)."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, Dataset]] = {}

    def manifest(self, name: str) -> dict:
        try:
            return self.storage.get_json(DATASETS, keys.dataset_manifest(name))
        except NotFound:
            raise NotFound(f"dataset {name} is not imported") from None

    def get(self, name: str) -> tuple[Dataset, str]:
        man = self.manifest(name)
        digest = man["digest"]
        with self._lock:
            hit = self._cache.get(name)
            if hit and hit[0] == digest:
                return hit[1], digest
        tree = StorageTree(self.storage, DATASETS, keys.dataset_files(name), self._digests(name))
        ds = core_dataset.load_dataset(tree, name=name)
        with self._lock:
            self._cache[name] = (digest, ds)
        return ds, digest

    def _digests(self, name: str) -> dict[str, str]:
        """The sha256 of each gold file recorded at import ({} for an import made before they were)."""
        try:
            return self.storage.get_json(DATASETS, keys.dataset_digests(name))
        except NotFound:
            return {}


def import_dataset(storage: Storage, name: str, path: str) -> tuple[dict, list[str]]:
    """Check, compile and store the dataset zip at ``path`` under ``name``: its manifest (returned) and notes.

    One part, then one file, in memory at a time. Compiled forms are stored as each part passes its checks;
    they are used only with the very CSV bytes they were made from, so one left behind by an import that fails
    later can never be read with other CSVs. The CSVs go once every part is good, the manifest last: it is the
    commit point (a failed import is never listed)."""
    manifest_key = keys.dataset_manifest(name)   # a bad name is refused before anything is read
    notes: list[str] = []
    content = hashlib.sha256()
    digests: dict[str, str] = {}
    total = 0
    tree = ZipTree(path, label=name, trusted=True)   # admin-only: the gold files of a dataset
    try:
        dataset = core_dataset.load_dataset(tree, name=name)
        for rel, data, part_notes in dataset.compile_parts():
            storage.put_bytes(DATASETS, keys.dataset_file(name, rel), data)
            notes.extend(part_notes)
        bench, root, names = core_dataset.gold_file_names(tree)
        for rel in sorted(names):
            data = root.read(rel)
            sha = hashlib.sha256(data)
            content.update(rel.encode() + b"\0" + sha.digest())
            digests[rel] = sha.hexdigest()
            total += len(data)
            storage.put_bytes(DATASETS, keys.dataset_file(name, rel), data)
    finally:
        tree.close()
    info = {"name": name, "benchmark": bench.name, "parts": [f"{t} {s}" for t, s in dataset.available],
            "digest": content.hexdigest(), "size": total}
    # what the CSVs stored now hash to, so that loading checks a compiled file without reading its CSV; written
    # after them: an import failing before this leaves the previous digests, which then match no new compiled file
    storage.put_json(DATASETS, keys.dataset_digests(name), digests)
    storage.put_json(DATASETS, manifest_key, info)
    return info, notes


def list_datasets(storage: Storage) -> list[dict]:
    """The manifests of the imported datasets."""
    return [storage.get_json(DATASETS, key) for key in storage.list(DATASETS) if keys.is_dataset_manifest(key)]


def delete_dataset(storage: Storage, name: str) -> dict:
    """Remove an imported dataset; its manifest goes first (from then on it is not listed), then its files."""
    manifest_key = keys.dataset_manifest(name)
    try:
        info = storage.get_json(DATASETS, manifest_key)
    except NotFound:
        raise NotFound(f"dataset {name} is not imported") from None
    storage.delete(DATASETS, manifest_key)
    for key in storage.list(DATASETS, keys.dataset_prefix(name)):
        storage.delete(DATASETS, key)
    return info
