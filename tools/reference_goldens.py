"""Produce golden score files by running the reference toolkit (zrc 0.9.4) on a case.

Run ONCE, by hand, with the interpreter of a scratch virtual environment that holds
the reference (never a dependency of this project)::

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install --no-deps zerospeech-benchmarks==0.9.4
    /tmp/ref/bin/pip install pandas==2.0.3 numpy==1.26.4 scipy==1.13.1 'pydantic<2' pyyaml rich \
        requests filesplit joblib distro humanize pycryptodome treelib
    /tmp/ref/bin/python tools/reference_goldens.py tests/golden/<case>

The case folder holds ``case.json`` ({"benchmark", "sets", "tasks"}), ``dataset.zip`` and
``submission.zip``; the reference's score files are written to ``<case>/expected/``.

Works offline: it builds an ``APP_DIR`` with an old ``repo.json`` (the reference
refreshes one younger than 7 days, formats.md §8.11) and an ``index.json`` for the
dataset, then runs ``zrc benchmarks:run --skip-validation`` (validation with
pandas >= 2.1 turns warnings into errors, §8.1).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = {
    "last_modified": "2023-01-01T00:00:00",
    "datasets": [
        {"name": n, "type": "internal", "zip_url": "https://example.org/x.zip", "md5sum": "0", "total_size": 1}
        for n in ("sLM21-dataset", "prosaudit-dataset")
    ],
    "checkpoints": [],
    "samples": [],
}


def _stems(gold: Path, type_: str | None = None) -> list[str]:
    with gold.open() as fh:
        rows = list(csv.DictReader(fh))
    return [r["filename"] for r in rows if type_ is None or r["type"] == type_]


def build_index(root: Path, benchmark: str) -> dict:
    def fitem(rel: str) -> dict:
        return {"item_type": "file_item", "file_type": "csv", "relative_path": True, "file": rel}

    def litem(files: list[str]) -> dict:
        return {"item_type": "filelist_item", "file_type": "wav", "relative_path": True, "files_list": files}

    subsets = {}
    if benchmark == "prosAudit":
        for s in ("dev", "test"):
            g = f"english/{s}/gold.csv"
            if (root / g).exists():
                subsets[f"english_{s}"] = {"items": {
                    "gold": fitem(g),
                    "wav_list": litem([f"english/{s}/{x}.wav" for x in _stems(root / g)])}}
        return {"subsets": subsets}
    for task in ("lexical", "syntactic"):
        for s in ("dev", "test"):
            g = f"{task}/{s}/gold.csv"
            if (root / g).exists():
                subsets[f"{task}_{s}"] = {"items": {
                    "gold": fitem(g), "wav_list": litem([f"{task}/{s}/{x}.wav" for x in _stems(root / g)])}}
    for s in ("dev", "test"):
        g = f"semantic/{s}/gold.csv"
        if (root / g).exists():
            subsets[f"semantic_{s}"] = {"items": {
                "gold": fitem(g), "pairs": fitem(f"semantic/{s}/pairs.csv"),
                "synthetic_wav_list": litem([f"semantic/{s}/synthetic/{x}.wav"
                                             for x in _stems(root / g, "synthetic")]),
                "librispeech_wav_list": litem([f"semantic/{s}/librispeech/{x}.wav"
                                               for x in _stems(root / g, "librispeech")])}}
    return {"subsets": subsets}


def main(case_dir: str) -> int:
    case = Path(case_dir)
    spec = json.loads((case / "case.json").read_text())
    bench = spec["benchmark"]
    ds_name = "prosaudit-dataset" if bench == "prosAudit" else "sLM21-dataset"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        app = tmp / "app"
        (app / "datasets").mkdir(parents=True)
        for d in ("samples", "checkpoints"):
            (app / d).mkdir()
        repo = app / "repo.json"
        repo.write_text(json.dumps(REPO))
        old = time.time() - 30 * 86400
        os.utime(repo, (old, old))
        ds_root = app / "datasets" / ds_name
        with zipfile.ZipFile(case / "dataset.zip") as z:
            z.extractall(ds_root)
        (ds_root / "index.json").write_text(json.dumps(build_index(ds_root, bench)))
        sub = tmp / "submission"
        with zipfile.ZipFile(case / "submission.zip") as z:
            z.extractall(sub)
        cmd = [str(Path(sys.executable).parent / "zrc"), "benchmarks:run", bench, str(sub), "--skip-validation"]
        if spec.get("sets"):
            cmd += ["-s", *spec["sets"]]
        if spec.get("tasks"):
            cmd += ["-t", *spec["tasks"]]
        env = dict(os.environ, APP_DIR=str(app), HOME=str(tmp))
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        if proc.returncode != 0:
            return proc.returncode
        out = case / "expected"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        for f in sorted((sub / "scores").glob("*.csv")):
            shutil.copy(f, out / f.name)
            print("wrote", out / f.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
