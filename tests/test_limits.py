"""Every limit on user input: tiny crafted files that cost gigabytes, tracebacks or hangs before.

Each class of :mod:`tests.abuse` must end validation with an error finding of
the expected code (naming the limit where one applies), never an exception,
and within a bounded memory (checked in a subprocess for the worst ones).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests import abuse
from zrc.client import build_archive
from zrc.core.benchmarks import get_benchmark
from zrc.core.dataset import load_dataset
from zrc.core.findings import Findings
from zrc.core.limits import Limits, excerpt, override
from zrc.core.meta import check_meta, load_meta
from zrc.core.params import parse_params
from zrc.core.sources import DirTree, LimitExceeded, SourceError, ZipTree
from zrc.core.submission import ArrayError, load_npy, parse_score_file
from zrc.core.validation import rejected, validate
from zrc.core.yamlsafe import YamlRefused, load

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base(slm21_case, tmp_path_factory) -> dict[str, bytes]:
    _, sub = slm21_case
    dest = tmp_path_factory.mktemp("base") / "sub.zip"
    build_archive(sub, dest)
    return abuse.members(dest.read_bytes())


@pytest.fixture(scope="module")
def dataset(slm21_case):
    ds, _ = slm21_case
    return load_dataset(DirTree(ds)).load_all()


def run_validation(dataset, data: bytes) -> Findings:
    bench = get_benchmark("sLM21")
    try:
        tree = ZipTree(io.BytesIO(data), label="upload")
    except SourceError as exc:
        from zrc.core.params import default_params
        return rejected(exc, default_params("sLM21")).findings
    try:
        return validate(dataset, tree, bench, ["dev", "test"], list(bench.task_names)).findings
    finally:
        tree.close()


@pytest.mark.parametrize("cls", abuse.CLASSES, ids=lambda c: c.name)
def test_every_abuse_class_is_a_specific_finding(cls, base, dataset):
    with override(**(cls.limits or {})):
        findings = run_validation(dataset, cls.make(base, 0))
    codes = {f.code for f in findings.items if f.severity in ("error", "warning")}
    assert codes & set(cls.expect), (cls.name, [str(f) for f in findings.items][:5])
    if cls.name not in ("bom", "meta_nan"):   # warnings only (meta.yaml is strict only when publishing)
        assert not findings.ok
    for f in findings.items:   # every echoed value is an excerpt
        assert len(f.message) <= 500 and len(f.file or "") <= 300


def test_the_valid_archive_passes(base, dataset):
    assert run_validation(dataset, abuse.rezip(base)).ok


def test_limit_findings_name_the_setting(base, dataset):
    findings = run_validation(dataset, abuse.zip_bomb(base, 0))
    assert any("ZRC_LIMIT_MEMBER_BYTES" in f.message for f in findings.items)
    findings = run_validation(dataset, abuse.npy_wide(base, 0))
    assert any("ZRC_LIMIT_ARRAY_BYTES" in f.message or "ZRC_LIMIT_ARRAY_FEATURES" in f.message
               for f in findings.items)


def test_npy_header_is_checked_before_the_body():
    # a header declaring 2**80 elements with no body: refused from the header, not "truncated", no overflow
    with pytest.raises(ArrayError) as e:
        load_npy(abuse.npy_header((2 ** 40, 2 ** 40)))
    assert e.value.code == "array_too_large"
    with override(array_features=8):
        with pytest.raises(ArrayError, match="ZRC_LIMIT_ARRAY_FEATURES"):
            load_npy(abuse.npy(np.zeros((2, 9))))
        assert load_npy(abuse.npy(np.ones((2, 8)))).shape == (2, 8)
    arr = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    assert (load_npy(abuse.npy(arr)) == arr).all()


def test_score_file_line_limits_and_bom():
    f = Findings()
    sf = parse_score_file(b"\xef\xbb\xbfabc 1.0\n", "x.txt", f)
    assert list(sf.names) == ["abc"] and [x.code for x in f.items] == ["bom"]
    f = Findings()
    with override(line_chars=20):
        parse_score_file(b"a 1\n" + b"b" * 30 + b" 1\n", "x.txt", f)
    assert [x.code for x in f.items] == ["line_too_long"] and f.items[0].line == 2
    f = Findings()
    with override(score_lines=3):
        parse_score_file(b"a 1\n" * 4, "x.txt", f)
    assert [x.code for x in f.items] == ["too_many_lines"]


def test_yaml_aliases_depth_and_size_are_refused():
    with pytest.raises(YamlRefused, match="alias"):
        load("a: &x [1, 2]\nb: *x\n")
    with pytest.raises(YamlRefused, match="ZRC_LIMIT_YAML_DEPTH"):
        load("a: " + "[" * 100 + "]" * 100)
    with pytest.raises(YamlRefused, match="ZRC_LIMIT_YAML_BYTES"):
        load("a: " + "x" * (Limits().yaml_bytes + 1))
    assert load("a: {b: [1, 2]}") == {"a": {"b": [1, 2]}}
    params, f = parse_params("semantic: " + "[" * 20_000 + "]" * 20_000, "sLM21")
    assert not f.ok and f.items[0].code == "params_yaml"


def test_nan_identity_fields_are_errors_when_publishing():
    meta, warned = load_meta("username: .nan\nmodel_info: {train_set: [1, .inf]}\n")
    assert meta["username"] is None and meta["model_info"]["train_set"] == [1, None]   # JSON-safe now
    assert [x.code for x in warned.items] == ["meta_type", "meta_type"]
    f = check_meta(meta, strict=True)
    assert any(x.code == "meta_required" and "username" in x.message for x in f.items)
    meta, _ = load_meta("username: [a, b]\n")
    assert any(x.code == "meta_type" and "username" in x.message for x in check_meta(meta, strict=True).items)


def test_findings_are_capped_with_counts_by_code():
    f = Findings(total=5)
    for i in range(1000):
        f.error("extra_file", "x" * 10_000, f"file{i}")
    assert f.counts["extra_file"] == 1000
    items = f.items
    assert len(items) <= 5 + 51 and not f.ok
    assert "995 more" in items[-1].message and "ZRC_LIMIT_FINDINGS=5" in items[-1].message
    many = Findings(total=5, cap=1)
    for i in range(1000):
        for code in ("a", "b"):
            many.error(code, "m", f"f{i}")
            many.error(code, "m", f"f{i}")   # over the per-file cap: one summary per file and code
    assert many.items[-1].code == "findings_cap" and "a=2000" in many.items[-1].message
    assert len(many.items) <= 5 + 51
    assert all(len(x.message) <= 500 for x in items)


def test_excerpt_cuts_long_values():
    assert excerpt("x" * 1000, 10).startswith("x" * 10 + "…")
    assert excerpt("short") == "short"


def test_archive_level_limits_raise_named_errors(base):
    data = abuse.rezip(base)
    with override(members=3):
        with pytest.raises(LimitExceeded, match="ZRC_LIMIT_MEMBERS"):
            ZipTree(io.BytesIO(data))
    with override(total_bytes=100):
        with pytest.raises(LimitExceeded, match="ZRC_LIMIT_TOTAL_BYTES"):
            ZipTree(io.BytesIO(data))
    with override(archive_bytes=100):
        with pytest.raises(LimitExceeded, match="ZRC_LIMIT_ARCHIVE_BYTES"):
            ZipTree(io.BytesIO(data))


def test_env_overrides_and_bad_values():
    assert Limits.from_env({"ZRC_LIMIT_MEMBERS": "7"}).members == 7
    with pytest.raises(ValueError, match="ZRC_LIMIT_MEMBERS"):
        Limits.from_env({"ZRC_LIMIT_MEMBERS": "many"})


@pytest.mark.parametrize("case", ["fifo", "dev_zero", "non_utf8"])
def test_special_files_are_refused_when_zipping(case, slm21_copy, tmp_path):
    _, sub = slm21_copy
    abuse.folder_cases(sub)[case](sub)
    with pytest.raises(SourceError) as e:
        build_archive(sub, tmp_path / "out.zip")
    assert ("regular file" in str(e.value)) if case != "non_utf8" else ("UTF-8" in str(e.value))


def test_dirtree_refuses_special_files(tmp_path):
    os.mkfifo(tmp_path / "meta.yaml")
    with pytest.raises(SourceError, match="FIFO"):
        DirTree(tmp_path).read("meta.yaml")


_RSS_SCRIPT = """
import io, json, sys
sys.path.insert(0, {root!r})
from tests import abuse
from zrc.core.benchmarks import get_benchmark
from zrc.core.dataset import load_dataset
from zrc.core.sources import DirTree, SourceError, ZipTree
from zrc.core.validation import validate
base = abuse.members(open(sys.argv[1], 'rb').read())
ds = load_dataset(DirTree(sys.argv[2])).load_all()
bench = get_benchmark('sLM21')
def hwm():   # VmHWM of this process image (ru_maxrss would keep the forking pytest's peak across exec)
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
before = hwm()
out = {{}}
for cls in abuse.CLASSES:
    if cls.limits:
        continue
    data = cls.make(base, 0)
    try:
        tree = ZipTree(io.BytesIO(data))
        validate(ds, tree, bench, ['dev', 'test'], list(bench.task_names))
    except SourceError:
        pass
    out[cls.name] = hwm()
print(json.dumps({{"before": before, "after": out}}))
"""


def test_peak_memory_of_every_abuse_class_is_bounded(slm21_case, tmp_path):
    """In a fresh process: all classes one after the other stay well under 300 MB of peak RSS."""
    ds, sub = slm21_case
    archive = tmp_path / "sub.zip"
    build_archive(sub, archive)
    r = subprocess.run([sys.executable, "-c", _RSS_SCRIPT.format(root=str(ROOT)), str(archive), str(ds)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    peak = json.loads(r.stdout.strip().splitlines()[-1])
    worst = max(peak["after"].values())
    assert worst < 300 * 1024, peak   # KiB


def test_cli_params_refuses_a_fifo_instead_of_hanging(slm21_copy, capsys):
    from zrc.cli.main import main

    _, sub = slm21_copy
    (sub / "params.yaml").unlink()
    os.mkfifo(sub / "params.yaml")
    assert main(["submission:params", str(sub), "--benchmark", "sLM21"]) == 2
    assert "FIFO" in capsys.readouterr().err


def test_datasets_are_trusted_but_submissions_are_not(tmp_path):
    """An official dataset zip has ~10^5 wav members: organisers' files are read without the input limits."""
    from zrc.core.sources import open_tree

    path = tmp_path / "ds.zip"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(30):
            z.writestr(f"lexical/dev/{i}.wav", b"")
    with override(members=10):
        assert len(open_tree(path, trusted=True).names()) == 30
        with pytest.raises(LimitExceeded):
            open_tree(path)


def test_oversized_files_are_refused_from_their_size_without_being_read(slm21_copy, dataset, monkeypatch):
    _, sub = slm21_copy
    (sub / "params.yaml").write_text("quiet: false\n" + "# padding\n" * 10_000)
    read = DirTree.read

    def guarded(self, name):
        assert name not in ("lexical/dev.txt", "params.yaml"), f"{name} was read"
        return read(self, name)

    monkeypatch.setattr(DirTree, "read", guarded)
    bench = get_benchmark("sLM21")
    with override(score_bytes=100):
        f = validate(dataset, DirTree(sub), bench, ["dev"], ["lexical"]).findings
    codes = {(x.file, x.code) for x in f.items}
    assert ("lexical/dev.txt", "file_too_large") in codes and ("params.yaml", "params_yaml") in codes
