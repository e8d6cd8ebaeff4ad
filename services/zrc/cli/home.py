"""The embedded store under ``ZRC_HOME`` (default ``~/.zrc``): imported datasets.

Only the files evaluation needs (gold/pairs CSVs, index.json) are copied; the wav
files of the official archives are skipped. Imports are atomic: a dataset is
written to a temporary folder and renamed into place only once complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zrc.core.dataset import Dataset, gold_files, load_dataset
from zrc.core.sources import open_tree

MANIFEST = "zrc-dataset.json"


def home() -> Path:
    return Path(os.environ.get("ZRC_HOME") or Path.home() / ".zrc")


def datasets_dir() -> Path:
    return home() / "datasets"


@dataclass
class DatasetInfo:
    name: str
    benchmark: str
    parts: list[str]
    bytes: int
    source: str


def import_dataset(path: str | Path, name: str | None = None) -> tuple[DatasetInfo, list[str]]:
    """Validate every gold file of ``path`` (folder or zip) and copy them into the store."""
    tree = open_tree(path)
    try:
        dataset = load_dataset(tree).load_all()
        bench, files = gold_files(tree)
    finally:
        tree.close()
    stem = Path(path).name
    for ext in (".zip",):
        stem = stem.removesuffix(ext)
    name = name or stem
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid dataset name {name!r}")
    dest_root = datasets_dir()
    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest_root))
    try:
        total = 0
        for rel, data in files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            total += len(data)
        info = DatasetInfo(name, bench.name, [f"{t} {s}" for t, s in dataset.available], total,
                           str(Path(path).resolve()))
        (tmp / MANIFEST).write_text(json.dumps(info.__dict__, indent=1))
        final = dest_root / name
        if final.exists():
            old = dest_root / f".{name}.old"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info, dataset.notes


def list_datasets() -> list[DatasetInfo]:
    out = []
    root = datasets_dir()
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        m = d / MANIFEST
        if d.name.startswith(".") or not m.is_file():
            continue
        try:
            out.append(DatasetInfo(**json.loads(m.read_text())))
        except (ValueError, TypeError):
            continue
    return out


def open_dataset(name: str) -> Dataset | None:
    d = datasets_dir() / name
    if not (d / MANIFEST).is_file():
        return None
    return load_dataset(str(d), name=name)
