"""Every score file is byte for byte the reference toolkit's output (zerospeech-benchmarks 0.9.4).

The expected files were produced once by ``tools/reference_goldens.py`` running the
reference in a scratch venv on the committed inputs (``dataset.zip``, ``submission.zip``).
"""

from __future__ import annotations

import json

import pytest

from zrc.core.dataset import load_dataset
from zrc.core.pipeline import evaluate
from zrc.core.sources import ZipTree

from .conftest import GOLDEN
from .csvcompare import diff_csv

CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "expected").is_dir())


def test_there_are_enough_golden_cases():
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES)
def test_scores_equal_reference(case):
    d = GOLDEN / case
    spec = json.loads((d / "case.json").read_text())
    dataset = load_dataset(str(d / "dataset.zip"))
    ev = evaluate(dataset, ZipTree(d / "submission.zip"), spec["benchmark"], sets=spec["sets"], tasks=spec["tasks"])
    assert ev.ok, [str(f) for f in ev.findings]
    files = ev.files()
    expected = {p.name: p.read_bytes() for p in (d / "expected").glob("*.csv")}
    assert sorted(files) == sorted(expected)
    for name, data in expected.items():
        problems = diff_csv(data, files[name])
        assert not problems, f"{name}: " + "; ".join(problems)


def test_the_comparison_is_on_bytes():
    """A value off by less than the old 1e-4 tolerance, or other line endings, is a difference now."""
    ref = b"a,score\nx,0.5000\n"
    assert diff_csv(ref, ref) == []
    assert diff_csv(ref, b"a,score\nx,0.50001\n") == ["row 2 col 'score': '0.50001' != expected '0.5000'"]
    assert diff_csv(ref, ref.replace(b"\n", b"\r\n"))[0].startswith("same cells but different bytes")
