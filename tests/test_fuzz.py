"""Property: random corruptions of a valid submission never raise; they yield findings."""

from __future__ import annotations

import shutil

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zrc.core.dataset import load_dataset
from zrc.core.findings import Finding
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree

MUTATIONS = ("truncate", "garbage", "insert_bytes", "delete_file", "duplicate_lines", "drop_lines",
             "swap_fields", "empty", "bad_npy_header", "shape_lie")


def _corrupt(path, how: str, data: st.DataObject) -> None:
    raw = path.read_bytes()
    if how == "truncate":
        path.write_bytes(raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)))])
    elif how == "garbage":
        path.write_bytes(data.draw(st.binary(max_size=300)))
    elif how == "insert_bytes":
        at = data.draw(st.integers(0, len(raw)))
        path.write_bytes(raw[:at] + data.draw(st.binary(min_size=1, max_size=40)) + raw[at:])
    elif how == "delete_file":
        path.unlink()
    elif how == "duplicate_lines":
        lines = raw.split(b"\n")
        path.write_bytes(b"\n".join(lines + lines[: data.draw(st.integers(1, 5))]))
    elif how == "drop_lines":
        lines = raw.split(b"\n")
        k = data.draw(st.integers(0, max(len(lines) - 1, 0)))
        path.write_bytes(b"\n".join(lines[:k] + lines[k + 1:]))
    elif how == "swap_fields":
        path.write_bytes(b"\n".join(b" ".join(reversed(ln.split(b" "))) for ln in raw.split(b"\n")))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "bad_npy_header" and raw.startswith(b"\x93NUMPY"):
        path.write_bytes(raw[:10] + data.draw(st.binary(min_size=1, max_size=60)) + raw[70:])
    elif how == "shape_lie" and raw.startswith(b"\x93NUMPY"):
        path.write_bytes(raw.replace(b"'shape': (", b"'shape': (999, ", 1))
    else:
        path.write_bytes(raw[::-1])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_corruptions_never_raise(slm21_case, tmp_path_factory, data):
    dataset_dir, sub = slm21_case
    dest = tmp_path_factory.mktemp("fuzz") / "sub"
    shutil.copytree(sub, dest)
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    n = data.draw(st.integers(1, 4))
    for _ in range(n):
        files = [p for p in files if p.exists()]
        if not files:
            break
        target = data.draw(st.sampled_from(files))
        _corrupt(target, data.draw(st.sampled_from(MUTATIONS)), data)
    ev = evaluate(load_dataset(str(dataset_dir)), DirTree(dest), "sLM21")
    assert all(isinstance(f, Finding) for f in ev.findings)
    if not ev.ok:
        assert ev.findings, "a failed evaluation must say why"
    else:
        assert ev.files()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_as_score_file_never_raise(data):
    from zrc.core.findings import Findings
    from zrc.core.submission import parse_score_file

    f = Findings()
    sf = parse_score_file(data, "x.txt", f)
    assert sf.names.size == sf.scores.size == sf.lines.size


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_as_npy_raise_only_array_error(data):
    from zrc.core.submission import ArrayError, load_npy

    for payload in (data, b"\x93NUMPY\x01\x00" + data):
        try:
            arr = load_npy(payload)
        except ArrayError:
            continue
        assert isinstance(arr, np.ndarray)
