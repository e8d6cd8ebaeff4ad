"""A corpus of bad submissions: one per validation rule, each yielding its specific finding."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from zrc.core.dataset import load_dataset
from zrc.core.meta import check_meta
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree
from zrc.core.validation import validate


def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines()


def _set_lines(p: Path, lines: list[str]) -> None:
    p.write_text("\n".join(lines) + "\n")


def _first_npy(sub: Path, type_: str = "synthetic") -> Path:
    return sorted((sub / "semantic" / "dev" / type_).glob("*.npy"))[0]


def _params(sub: Path, **semantic) -> None:
    p = yaml.safe_load((sub / "params.yaml").read_text())
    p["semantic"].update(semantic)
    (sub / "params.yaml").write_text(yaml.safe_dump(p))


LEX = "lexical/dev.txt"


def m_missing_file(sub):
    (sub / LEX).unlink()


def m_bad_line(sub):
    ls = _lines(sub / LEX)
    ls[4] = ls[4] + " 3.0"
    _set_lines(sub / LEX, ls)


def m_tab(sub):
    ls = _lines(sub / LEX)
    ls[2] = ls[2].replace(" ", "\t")
    _set_lines(sub / LEX, ls)


def m_bad_score(sub):
    ls = _lines(sub / LEX)
    ls[3] = ls[3].split(" ")[0] + " high"
    _set_lines(sub / LEX, ls)


def m_nan(sub):
    ls = _lines(sub / LEX)
    ls[5] = ls[5].split(" ")[0] + " nan"
    _set_lines(sub / LEX, ls)


def m_duplicate(sub):
    ls = _lines(sub / LEX)
    _set_lines(sub / LEX, ls + [ls[0]])


def m_extra(sub):
    _set_lines(sub / LEX, _lines(sub / LEX) + ["notAnItem -1.0"])


def m_missing_name(sub):
    _set_lines(sub / LEX, _lines(sub / LEX)[1:])


def m_extra_and_missing(sub):
    ls = _lines(sub / LEX)
    ls[0] = "zzzUnknown " + ls[0].split(" ")[1]
    _set_lines(sub / LEX, ls)


def m_encoding(sub):
    (sub / LEX).write_bytes(b"\xff\xfe" + (sub / LEX).read_bytes())


def m_prosaudit_dev(sub):  # applied to a ProsAudit submission
    ls = _lines(sub / "english_dev.txt")
    _set_lines(sub / "english_dev.txt", ls[:-3])


def m_extra_file(sub):
    np.save(sub / "semantic/dev/synthetic/notAnItem.npy", np.zeros((3, 6)))


def m_missing_npy(sub):
    _first_npy(sub).unlink()


def m_wrong_extension(sub):
    for p in (sub / "semantic/dev/librispeech").glob("*.npy"):
        np.savetxt(p.with_suffix(".txt"), np.load(p))
        p.unlink()


def m_duplicate_file(sub):
    p = _first_npy(sub)
    (p.parent / "nested").mkdir()
    shutil.copy(p, p.parent / "nested" / p.name)


def m_npy_format(sub):
    _first_npy(sub).write_bytes(b"this is not numpy")


def m_npy_object(sub):
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = [1.0], {"a": 1}
    np.save(_first_npy(sub), arr, allow_pickle=True)


def m_dtype(sub):
    np.save(_first_npy(sub), np.ones((4, 6), dtype=np.int32))


def m_ndim(sub):
    np.save(_first_npy(sub), np.ones(6))


def m_empty(sub):
    np.save(_first_npy(sub), np.zeros((0, 6)))


def m_nonfinite(sub):
    a = np.ones((4, 6))
    a[1, 2] = np.nan
    np.save(_first_npy(sub), a)


def m_dim(sub):
    np.save(_first_npy(sub, "librispeech"), np.ones((4, 7)))


def m_frames(sub):
    _params(sub, pooling="lastlast")
    np.save(_first_npy(sub), np.ones((1, 6)))


def m_params_yaml(sub):
    (sub / "params.yaml").write_text("semantic: [metric: : cosine\n")


def m_params_metric(sub):
    _params(sub, metric="manhattan")


def m_params_pooling(sub):
    _params(sub, pooling="median")


def m_params_type(sub):
    _params(sub, n_jobs="four")


def m_meta_yaml(sub):
    (sub / "meta.yaml").write_text("username: [unclosed\n")


def m_meta_url(sub):
    m = yaml.safe_load((sub / "meta.yaml").read_text())
    m["code_url"] = "github.com/me/model"
    (sub / "meta.yaml").write_text(yaml.safe_dump(m))


CORPUS: list[tuple[str, Callable[[Path], None], str, str | None]] = [
    # (rule, mutation, expected code, file it must name)
    ("missing score file", m_missing_file, "missing_file", LEX),
    ("three fields on a line", m_bad_line, "bad_line", LEX),
    ("tab separator", m_tab, "bad_line", LEX),
    ("non-numeric score", m_bad_score, "bad_score", LEX),
    ("NaN score", m_nan, "nan_score", LEX),
    ("duplicate line", m_duplicate, "duplicate_name", LEX),
    ("extra name", m_extra, "extra_name", LEX),
    ("missing name", m_missing_name, "missing_name", LEX),
    ("not UTF-8", m_encoding, "encoding", LEX),
    ("extra .npy", m_extra_file, "extra_file", None),
    ("missing .npy", m_missing_npy, "missing_file", "semantic/dev/synthetic"),
    ("only .txt embeddings with default params", m_wrong_extension, "wrong_extension", "semantic/dev/librispeech"),
    ("same stem twice (nested)", m_duplicate_file, "duplicate_file", None),
    ("not a .npy", m_npy_format, "npy_format", None),
    ("pickled object array", m_npy_object, "npy_object", None),
    ("integer array", m_dtype, "array_dtype", None),
    ("1-D array", m_ndim, "array_ndim", None),
    ("empty array", m_empty, "array_empty", None),
    ("NaN in embeddings", m_nonfinite, "array_nonfinite", None),
    ("inconsistent feature dimension", m_dim, "array_dim", None),
    ("too few frames for lastlast", m_frames, "array_frames", None),
    ("params.yaml not YAML", m_params_yaml, "params_yaml", "params.yaml"),
    ("unknown metric", m_params_metric, "params_metric", "params.yaml"),
    ("unknown pooling", m_params_pooling, "params_pooling", "params.yaml"),
    ("n_jobs not an integer", m_params_type, "params_type", "params.yaml"),
    ("meta.yaml not YAML", m_meta_yaml, "meta_yaml", "meta.yaml"),
]


@pytest.mark.parametrize("rule,mutate,code,file", CORPUS, ids=[c[0] for c in CORPUS])
def test_each_rule_yields_its_finding(slm21_copy, rule, mutate, code, file):
    dataset_dir, sub = slm21_copy
    mutate(sub)
    ev = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21")
    hits = [f for f in ev.findings if f.code == code]
    assert hits, f"{rule}: no {code} finding among {[str(f) for f in ev.findings]}"
    assert hits[0].severity == "error"
    if file is not None:
        assert hits[0].file == file
    assert not ev.ok and not ev.results, "an invalid submission must not be scored"
    if code in ("bad_line", "bad_score", "nan_score", "duplicate_name", "extra_name"):
        assert hits[0].line is not None and hits[0].line >= 1


def test_line_numbers_point_at_the_bad_line(slm21_copy):
    dataset_dir, sub = slm21_copy
    ls = _lines(sub / LEX)
    ls[6] = ls[6].split(" ")[0] + " oops"
    _set_lines(sub / LEX, ls)
    ev = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21", tasks=["lexical"], sets=["dev"])
    (f,) = [f for f in ev.findings if f.code == "bad_score"]
    assert f.line == 7 and "oops" in f.message


def test_extra_and_missing_reported_together(slm21_copy):
    dataset_dir, sub = slm21_copy
    m_extra_and_missing(sub)
    codes = {f.code for f in evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21").findings}
    assert {"extra_name", "missing_name"} <= codes


def test_repeats_are_capped_with_a_count(slm21_copy):
    dataset_dir, sub = slm21_copy
    ls = _lines(sub / LEX)
    _set_lines(sub / LEX, [ln.replace(" ", "\t") for ln in ls])
    ev = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21", tasks=["lexical"], sets=["dev"])
    bad = [f for f in ev.findings if f.code == "bad_line"]
    assert len(bad) == 11
    assert "more of the same kind" in bad[-1].message
    assert str(len(ls) - 10) in bad[-1].message


def test_prosaudit_dev_is_validated(prosaudit_case, tmp_path):
    dataset_dir, sub = prosaudit_case
    dest = tmp_path / "sub"
    shutil.copytree(sub, dest)
    m_prosaudit_dev(dest)
    ev = evaluate(load_dataset(str(dataset_dir)), DirTree(dest), "prosAudit")
    assert any(f.code == "missing_name" and f.file == "english_dev.txt" for f in ev.findings)
    assert not ev.ok


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_float_precisions_are_accepted(slm21_copy, dtype):
    dataset_dir, sub = slm21_copy
    for p in (sub / "semantic").rglob("*.npy"):
        np.save(p, np.load(p).astype(dtype))
    ev = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21", tasks=["semantic"])
    assert ev.ok, [str(f) for f in ev.findings]


def test_txt_embeddings_when_params_ask(slm21_copy):
    dataset_dir, sub = slm21_copy
    for p in (sub / "semantic").rglob("*.npy"):
        np.savetxt(p.with_suffix(".txt"), np.load(p))
        p.unlink()
    p = yaml.safe_load((sub / "params.yaml").read_text())
    p["syntactic"] = {"score_files_type": ".txt"}
    (sub / "params.yaml").write_text(yaml.safe_dump(p))
    ev = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21", tasks=["semantic"])
    assert ev.ok, [str(f) for f in ev.findings]


def test_meta_rules(slm21_copy):
    _, sub = slm21_copy
    m_meta_url(sub)
    meta = yaml.safe_load((sub / "meta.yaml").read_text())
    assert [f.code for f in check_meta(meta, strict=True).errors] == ["meta_url"]
    template = yaml.safe_load(Path(sub / "meta.yaml").read_text())
    template["username"] = "<fill me>"
    template["publication"]["authors"] = ""
    codes = {f.code for f in check_meta(template, strict=True).errors}
    assert {"meta_template", "meta_required"} <= codes
    # not strict (benchmarks:run): the same problems are warnings only
    assert check_meta(template, strict=False).ok


def test_meta_problems_do_not_block_scoring(slm21_copy):
    dataset_dir, sub = slm21_copy
    m_meta_url(sub)
    report = validate(load_dataset(str(dataset_dir)), DirTree(sub),
                      load_dataset(str(dataset_dir)).benchmark, ["dev"], ["lexical"])
    assert report.ok
    assert any(f.code == "meta_url" and f.severity == "warning" for f in report.findings)


def test_skip_validation_scores_anyway(slm21_copy):
    dataset_dir, sub = slm21_copy
    m_missing_name(sub)
    ev = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21", tasks=["lexical"], sets=["dev"],
                  skip_validation=True)
    assert ev.ok and ev.results
    assert all(f.severity == "warning" for f in ev.findings)
