"""ZRC_HOME stays bounded: least recently used caches are pruned; state (datasets, jobs) is kept."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from zrc.cli.main import main
from zrc.storage import DATASETS, RESULTS, SUBMISSIONS
from zrc.storage.local import LocalStorage
from zrc.storage.prune import BudgetError, parse_size, prune_store


def test_parse_size():
    assert parse_size("2G") == 2_000_000_000 and parse_size("500M") == 500_000_000
    assert parse_size("1.5GiB") == int(1.5 * 1024**3) and parse_size("0") == 0 and parse_size("123") == 123
    for bad in ("", "lots", "-1G", "2Q"):
        with pytest.raises(BudgetError, match="ZRC_HOME_BUDGET must be a size"):
            parse_size(bad)


def _put(storage, bucket, key, size, used):
    storage.put_bytes(bucket, key, b"x" * size)
    os.utime(storage._path(bucket, key), (used, used))


def test_prune_least_recently_used_first(tmp_path):
    st = LocalStorage(tmp_path)
    st.ensure_buckets()
    _put(st, SUBMISSIONS, "archives/old.zip", 400, 1000)
    _put(st, SUBMISSIONS, "derived/x/pooled.npz", 300, 2000)
    _put(st, RESULTS, "results/a.json", 200, 3000)
    _put(st, RESULTS, "jobs/j.json", 5000, 0)           # state: never pruned
    _put(st, DATASETS, "d/files/gold.csv", 5000, 0)     # state: never pruned
    st.get_bytes(SUBMISSIONS, "archives/old.zip")       # reading it makes it the most recently used
    r = prune_store(tmp_path, budget=450)
    assert r.before == 900 and r.after == 400
    assert sorted(r.removed) == ["results/results/a.json", "submissions/derived/x/pooled.npz"]
    assert st.exists(SUBMISSIONS, "archives/old.zip") and st.exists(RESULTS, "jobs/j.json")
    assert st.exists(DATASETS, "d/files/gold.csv")
    assert not (tmp_path / SUBMISSIONS / "derived").exists(), "empty folders go too"
    # files used since a time are protected (the session that just ended)
    r = prune_store(tmp_path, budget=0, keep_used_since=0)
    assert r.removed == [] and r.after == 400
    assert prune_store(tmp_path, budget=0).after == 0


@pytest.fixture()
def zhome(tmp_path, monkeypatch):
    h = tmp_path / "zrc-home"
    monkeypatch.setenv("ZRC_HOME", str(h))
    monkeypatch.delenv("ZRC_HOME_BUDGET", raising=False)
    return h


def _size(d):
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) if d.is_dir() else 0


def test_sessions_prune_what_earlier_sessions_left(zhome, slm21_case, tmp_path, monkeypatch, capsys):
    dataset_dir, sub = slm21_case
    mine = tmp_path / "sub"
    shutil.copytree(sub, mine)
    assert main(["datasets:import", str(dataset_dir)]) == 0
    monkeypatch.setenv("ZRC_HOME_BUDGET", "0")
    assert main(["submit", str(mine), "-q"]) == 0          # uploads an archive: this session keeps it
    assert _size(zhome / "store" / SUBMISSIONS) > 0
    for p in (zhome / "store" / SUBMISSIONS).rglob("*"):   # as if that session ended a minute ago
        os.utime(p, (p.stat().st_atime - 60, p.stat().st_mtime - 60))
    assert main(["benchmarks:run", "sLM21", str(mine), "-q", "-t", "lexical"]) == 0
    assert _size(zhome / "store" / SUBMISSIONS) == 0, "the next session pruned the unused archive"
    assert _size(zhome / "store" / DATASETS) > 0
    monkeypatch.setenv("ZRC_HOME_BUDGET", "lots")
    with pytest.raises(SystemExit) as exc:   # as for any embedded start-up failure: exit 2, one sentence
        main(["benchmarks:run", "sLM21", str(mine), "-q"])
    assert exc.value.code == 2
    assert "ZRC_HOME_BUDGET must be a size" in capsys.readouterr().err


def test_cache_prune_command(zhome, slm21_case, tmp_path, capsys):
    dataset_dir, sub = slm21_case
    assert main(["datasets:import", str(dataset_dir)]) == 0
    assert main(["benchmarks:run", "sLM21", str(sub), "-q", "-o", str(tmp_path / "o")]) == 0
    capsys.readouterr()
    assert _size(zhome / "store" / RESULTS / "results") > 0
    assert main(["cache:prune", "--budget", "0", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["freed"] > 0 and r["after"] == 0 and r["removed"] > 0
    assert _size(zhome / "store" / RESULTS / "results") == 0 and _size(zhome / "store" / DATASETS) > 0
    assert main(["cache:prune", "--budget", "x"]) == 2
    assert "--budget must be a size" in capsys.readouterr().err
    # a pruned result is computed again
    assert main(["benchmarks:run", "sLM21", str(sub), "-q", "-o", str(tmp_path / "o2")]) == 0
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == sorted(p.name for p in (tmp_path / "o").iterdir())
