"""Generate the inputs of the golden cases (run once; the reference then scores them).

    .venv/bin/python tools/make_golden_cases.py          # writes tests/golden/<case>/{case.json,*.zip}
    /tmp/ref/bin/python tools/reference_goldens.py tests/golden/<case>   # writes <case>/expected/

Inputs are committed as zips so the goldens stay valid even if the generator changes.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from zrc.core.generate import GenOptions, generate

HERE = Path(__file__).resolve().parent.parent / "tests" / "golden"

SMALL = dict(scale=0.01, dim=8, frames=(3, 12))
CASES = {
    # defaults everywhere: euclidean / mean, both sets, every task
    "slm21_default": ("sLM21", GenOptions(seed=11, **SMALL), None, None),
    # non-default metric/pooling, ties, -inf scores, non-words without spelling (phones fallback)
    "slm21_cosine_max_ties": ("sLM21", GenOptions(seed=12, metric="cosine", pooling="max", tie_rate=0.15,
                                                  neginf_rate=0.03, nonword_spelling=False, **SMALL), None, None),
    # only some sets and tasks; other metric/pooling
    "slm21_partial_dev": ("sLM21", GenOptions(seed=13, metric="cityblock", pooling="last", **SMALL),
                          ["dev"], ["lexical", "semantic"]),
    "slm21_partial_test": ("sLM21", GenOptions(seed=14, metric="correlation", pooling="min", tie_rate=0.05, **SMALL),
                           ["test"], ["syntactic", "semantic"]),
    "prosaudit_default": ("prosAudit", GenOptions(seed=15, scale=0.05, tie_rate=0.1, neginf_rate=0.02), None, None),
}


def _zip(src: Path, dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                info = zipfile.ZipInfo(p.relative_to(src).as_posix(), date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, p.read_bytes())


def main(names: list[str]) -> None:
    for name, (bench, opt, sets, tasks) in CASES.items():
        if names and name not in names:
            continue
        case = HERE / name
        case.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            root, sub = generate(tmp, bench, opt)
            _zip(root, case / "dataset.zip")
            _zip(sub, case / "submission.zip")
        (case / "case.json").write_text(json.dumps({"benchmark": bench, "sets": sets, "tasks": tasks}, indent=1) + "\n")
        shutil.rmtree(case / "expected", ignore_errors=True)
        print("wrote", case)


if __name__ == "__main__":
    main(sys.argv[1:])
