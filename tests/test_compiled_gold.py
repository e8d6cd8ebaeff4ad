"""Gold compiled at import: services load the .npz next to each CSV instead of parsing it, never a stale one."""

from __future__ import annotations

import shutil

import numpy as np

from zrc.cli.main import main
from zrc.common.data import DatasetCache
from zrc.core import dataset as dataset_mod
from zrc.core.compiled import compile_table, compiled_name, load_compiled
from zrc.core.dataset import load_dataset
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree
from zrc.storage import DATASETS
from zrc.storage.local import LocalStorage


def _same(a, b) -> None:
    assert a.names == b.names
    for n in a.names:
        assert a[n].dtype == b[n].dtype, n
        np.testing.assert_array_equal(a[n], b[n])


def test_round_trip_is_exact(slm21_case):
    ds = load_dataset(str(slm21_case[0])).load_all()
    for task, set_ in ds.available:
        g = ds.gold(task, set_)
        tables = [(g.file, g.table)] if hasattr(g, "table") else [(g.gold_file, g.gold), (g.pairs_file, g.pairs)]
        for name, table in tables:
            src = ds.root.read(name)
            _same(load_compiled(compile_table(table, src), src), table)
            assert load_compiled(compile_table(table, src), src + b"\n") is None, "made from other bytes"
    assert compiled_name("semantic/dev/pairs.csv") == "semantic/dev/pairs.npz"


def test_import_stores_compiled_gold_and_services_use_it(slm21_case, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZRC_HOME", str(tmp_path / "h"))
    assert main(["datasets:import", str(slm21_case[0])]) == 0
    storage = LocalStorage(tmp_path / "h" / "store")
    keys = storage.list(DATASETS, "sLM21-dataset/files/")
    csvs = [k for k in keys if k.endswith(".csv")]
    assert csvs and all(compiled_name(k) in keys for k in csvs)

    def no_parsing(*a, **k):
        raise AssertionError("a CSV was parsed although its compiled form was stored")
    monkeypatch.setattr(dataset_mod, "read_csv", no_parsing)
    ds, _ = DatasetCache(storage).get("sLM21-dataset")
    ev = evaluate(ds.load_all(), DirTree(slm21_case[1]), "sLM21")
    monkeypatch.undo()
    core = evaluate(load_dataset(str(slm21_case[0])), DirTree(slm21_case[1]), "sLM21")
    assert ev.ok and ev.files() == core.files()


def test_stale_or_foreign_compiled_file_is_ignored(slm21_case, tmp_path):
    ds_dir = tmp_path / "sLM21-dataset"
    shutil.copytree(slm21_case[0], ds_dir)
    gold = ds_dir / "lexical/dev/gold.csv"
    table = load_dataset(str(ds_dir)).gold("lexical", "dev").table
    (ds_dir / "lexical/dev/gold.npz").write_bytes(compile_table(table, gold.read_bytes()))
    lines = gold.read_text().splitlines()
    gold.write_text("\n".join(lines[:-2]) + "\n")    # the CSV changed after compiling
    assert load_dataset(str(ds_dir)).gold("lexical", "dev").table.nrows == len(lines) - 3
    (ds_dir / "lexical/dev/gold.npz").write_bytes(b"garbage")
    assert load_dataset(str(ds_dir)).gold("lexical", "dev").table.nrows == len(lines) - 3

