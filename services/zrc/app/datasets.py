"""Imported datasets, loaded from storage once per content digest and shared by the services of a process."""

from __future__ import annotations

import threading

from zrc.core.dataset import Dataset, load_dataset
from zrc.storage import DATASETS, NotFound, Storage, StorageTree, keys


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
        ds = load_dataset(StorageTree(self.storage, DATASETS, keys.dataset_files(name)), name=name)
        with self._lock:
            self._cache[name] = (digest, ds)
        return ds, digest
