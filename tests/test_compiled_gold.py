"""Gold compiled at import: services load the .npz next to each CSV instead of parsing it, never a stale one."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from zrc.app.datasets import DatasetCache
from zrc.cli.main import main
from zrc.core import dataset as dataset_mod
from zrc.core.compiled import compiled_name
from zrc.core.dataset import PairGold, compile_gold, load_compiled_gold, load_dataset
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
    assert sorted(ds.compiled()) == sorted(compiled_name(n) for n in ds.root.names() if n.endswith("gold.csv"))
    for (task, set_), spec in ds.parts.items():
        g = ds.gold(task, set_)
        assert load_compiled_gold(ds.root, spec, set_) is None, "the folder holds no compiled gold"
        c = _compiled(ds, spec, set_)
        if isinstance(g, PairGold):
            # text stays compact: a column is decoded when a reader asks and never kept wide (the table lives
            # as long as the dataset, shared by every scorer of a process)
            assert not [n for n, col in c.table._decoded.items() if col.dtype.kind == "U"]
            _same(c.table, g.table)
            for k in ("stems", "good", "bad"):
                np.testing.assert_array_equal(getattr(c, k), getattr(g, k))
            np.testing.assert_array_equal(c.index.sorted, g.index.sorted)
        else:
            _same(c.gold, g.gold)
            _same(c.pairs, g.pairs)
            for t in g.stems:
                np.testing.assert_array_equal(c.index[t].sorted, g.index[t].sorted)
        assert c.notes == g.notes
    assert compiled_name("semantic/dev/pairs.csv") == "semantic/dev/pairs.npz"
    # import compiles part by part and keeps none loaded (peak memory: one part)
    fresh = load_dataset(str(slm21_case[0]))
    compiled, notes = fresh.compile_all()
    assert compiled == ds.compiled() and notes == ds.notes and fresh._golds == {}


def _compiled(ds, spec, set_):
    """The part's gold as loaded back from its compiled form (a tree holding the CSVs and the npz)."""
    from zrc.core.sources import FileTree

    g = ds.gold(spec.name, set_)
    files = {n: ds.root.read(n) for n in ds.root.names()}
    files.update(ds.compiled())

    class Mem(FileTree):
        label = "mem"

        def names(self):
            return sorted(files)

        def read(self, name):
            return files[name]
    out = load_compiled_gold(Mem(), spec, set_)
    assert out is not None and type(out) is type(g)
    return out


@pytest.mark.integration
def test_import_stores_compiled_gold_and_services_use_it(slm21_case, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZRC_HOME", str(tmp_path / "h"))
    assert main(["datasets:import", str(slm21_case[0])]) == 0
    storage = LocalStorage(tmp_path / "h" / "store")
    keys = storage.list(DATASETS, "sLM21-dataset/files/")
    golds = [k for k in keys if k.endswith("gold.csv")]
    assert len(golds) == 6 and all(compiled_name(k) in keys for k in golds)

    def no_parsing(*a, **k):
        raise AssertionError("a CSV was parsed although its compiled form was stored")
    monkeypatch.setattr(dataset_mod, "read_csv", no_parsing)
    read = []   # nor read: the digests stored at import vouch for the CSVs (17 MB from S3 at full size)
    get_bytes = storage.get_bytes
    monkeypatch.setattr(storage, "get_bytes", lambda b, k: read.append(k) or get_bytes(b, k))
    ds, _ = DatasetCache(storage).get("sLM21-dataset")
    ev = evaluate(ds.load_all(), DirTree(slm21_case[1]), "sLM21")
    assert read and not [k for k in read if k.endswith(".csv")]
    monkeypatch.undo()
    core = evaluate(load_dataset(str(slm21_case[0])), DirTree(slm21_case[1]), "sLM21")
    assert ev.ok and ev.files() == core.files()


def test_stored_digests_that_do_not_match_mean_parsing(slm21_case, tmp_path, monkeypatch):
    """A compiled file is used only with the digests of the CSVs it was made from: an import made before
    digests were stored reads and hashes the CSVs, and digests of other CSVs (an import that failed after
    storing some new CSVs keeps the previous digests) mean the CSVs are parsed."""
    from zrc.app.datasets import import_dataset
    from zrc.client import build_gold_archive
    from zrc.storage import keys as storage_keys

    build_gold_archive(slm21_case[0], tmp_path / "gold.zip")
    storage = LocalStorage(tmp_path / "store")
    import_dataset(storage, "sLM21-dataset", str(tmp_path / "gold.zip"))
    digests = storage.get_json(DATASETS, storage_keys.dataset_digests("sLM21-dataset"))
    assert sorted(digests) == sorted(k.split("/files/", 1)[1] for k in storage.list(DATASETS, "sLM21-dataset/files/")
                                     if k.endswith(".csv"))
    parsed = []
    read_csv = dataset_mod.read_csv
    monkeypatch.setattr(dataset_mod, "read_csv", lambda data, **k: parsed.append(k["file"]) or read_csv(data, **k))
    storage.delete(DATASETS, storage_keys.dataset_digests("sLM21-dataset"))
    DatasetCache(storage).get("sLM21-dataset")[0].load_all()
    assert parsed == []
    storage.put_json(DATASETS, storage_keys.dataset_digests("sLM21-dataset"),
                     {**digests, "lexical/dev/gold.csv": "0" * 64})
    DatasetCache(storage).get("sLM21-dataset")[0].load_all()
    assert parsed == ["lexical/dev/gold.csv"]


def test_stale_or_foreign_compiled_file_is_ignored(slm21_case, tmp_path):
    ds_dir = tmp_path / "sLM21-dataset"
    shutil.copytree(slm21_case[0], ds_dir)
    ds = load_dataset(str(ds_dir))
    g = ds.gold("lexical", "dev")
    npz = ds_dir / "lexical/dev/gold.npz"
    npz.write_bytes(compile_gold(g, ds.root))
    assert load_compiled_gold(load_dataset(str(ds_dir)).root, g.task, "dev") is not None
    gold = ds_dir / "lexical/dev/gold.csv"
    lines = gold.read_text().splitlines()
    gold.write_text("\n".join(lines[:-2]) + "\n")    # the CSV changed after compiling
    fresh = load_dataset(str(ds_dir))
    assert load_compiled_gold(fresh.root, g.task, "dev") is None
    assert fresh.gold("lexical", "dev").table.nrows == len(lines) - 3
    npz.write_bytes(b"garbage")
    assert load_dataset(str(ds_dir)).gold("lexical", "dev").table.nrows == len(lines) - 3


def test_csv_read_in_blocks_equals_one_pass(slm21_case, monkeypatch):
    """Large gold files are cut into blocks of lines (bounded memory); the table is the same."""
    from zrc.core import table as table_mod

    data = (slm21_case[0] / "lexical/dev/gold.csv").read_bytes()
    whole = table_mod.read_csv(data)
    monkeypatch.setattr(table_mod, "_BLOCK_CHARS", 64)
    _same(table_mod.read_csv(data), whole)
    lines = data.split(b"\n")
    lines[6] += b",x"   # a ragged line in a later block: the careful reader reports it with its line number
    with pytest.raises(table_mod.TableError, match="expected 8 fields") as exc:
        table_mod.read_csv(b"\n".join(lines))
    assert exc.value.line == 7


def test_quoted_csv_read_in_blocks_equals_one_pass(slm21_case, monkeypatch):
    """Quoted files (syntactic transcriptions with commas) take the csv-module reader, also in blocks of rows;
    the table and the line of an error are those of one pass."""
    from zrc.core import table as table_mod

    data = (slm21_case[0] / "syntactic/dev/gold.csv").read_bytes()
    assert b'"' in data
    whole = table_mod.read_csv(data)
    monkeypatch.setattr(table_mod, "_BLOCK_ROWS", 3)
    _same(table_mod.read_csv(data), whole)
    _same(table_mod.read_csv(data.replace(b"Alex", "Al\u00e9x".encode())),   # not ASCII: held as str
          whole.with_column("voice", np.char.replace(whole["voice"], "Alex", "Al\u00e9x")))
    lines = data.split(b"\n")
    for bad, line in (([b""], 9), ([b"x,1"], 9)):   # an empty line before more rows, a short row, in block 3
        with pytest.raises(table_mod.TableError, match="expected 7 fields") as exc:
            table_mod.read_csv(b"\n".join(lines[:8] + bad + lines[8:]))
        assert exc.value.line == line
    assert table_mod.read_csv(data + b"\n\n").nrows == whole.nrows   # trailing empty lines are not rows


def test_quoted_csv_parse_holds_little_beyond_its_table():
    """Parsing a quoted gold file holds one block of rows as Python strings, not every row (at full size the
    syntactic test gold peaked at 3.3x its table, 227 MB, in the gateway during import); a column of long
    text is not copied to look for NA tokens. Measured with tracemalloc (allocations, deterministic)."""
    import tracemalloc

    from zrc.core.table import read_csv

    rng = np.random.default_rng(0)
    words = ["".join(w) for w in rng.choice(list("abcdefghij"), size=(500, 6))]
    rows = ["filename,id,voice,type,subtype,correct,transcription"]
    rows += [f"f{i:08d},{i // 2},Alex,anaphor_agreement,anaphor_agreement_{i % 7},{i % 2},"
             f"\"{' '.join(rng.choice(words, 8))}, then\"" for i in range(30_000)]
    data = ("\n".join(rows) + "\n").encode()
    tracemalloc.start()
    try:
        table = read_csv(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert table["transcription"].dtype.kind == "U" and table.nrows == 30_000
    assert peak < 3 * sum(c.nbytes for c in table.columns.values())   # was 3.7x, now 2.4x
