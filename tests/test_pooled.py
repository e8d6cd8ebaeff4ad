"""Pooled uploads: the client pools with the server's code, the server checks what it gets, and every mode
(local in place, server pooled, server raw) writes byte-identical score files."""

from __future__ import annotations

import contextlib
import io
import json

import grpc
import numpy as np
import pytest

from zrc.cli.main import main
from zrc.client import Client, build_archive, build_pooled_archive
from zrc.core.benchmarks import get_benchmark
from zrc.core.dataset import load_dataset
from zrc.core.findings import Findings
from zrc.core.generate import GenOptions, generate
from zrc.core.pipeline import evaluate
from zrc.core.pooled import MANIFEST, pool_submission, pooled_path
from zrc.core.sources import DirTree, FileTree, ZipTree
from zrc.core.validation import read_params, validate
from zrc.embedded import Embedded

pytestmark = pytest.mark.integration   # starts embedded stacks


@pytest.fixture(scope="module", params=[32, 768])
def case(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"dim{request.param}")
    return generate(out, "sLM21", GenOptions(scale=0.004, seed=5, dim=request.param, dtype="float32",
                                             frames=(2, 6)))


@contextlib.contextmanager
def _served(tmp_path, dataset_dir, sub):
    """An embedded server with the dataset imported and the submission uploaded pooled: (stack, client, upload)."""
    emb = Embedded(tmp_path / "server").start()
    try:
        with Client(emb.address) as c:
            c.import_dataset(dataset_dir, "sLM21-dataset")
            pooled, findings = c.upload_pooled(sub, "sLM21")
            assert findings.ok
            yield emb, c, pooled
    finally:
        emb.close()


def test_every_mode_writes_the_same_score_files(case, tmp_path, monkeypatch, capsys):
    dataset_dir, sub = case
    core = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21").files()
    monkeypatch.setenv("ZRC_HOME", str(tmp_path / "local"))
    monkeypatch.delenv("ZRC_SERVER", raising=False)
    assert main(["datasets:import", str(dataset_dir), "-q"]) == 0
    assert main(["benchmarks:run", "sLM21", str(sub), "-q", "-o", str(tmp_path / "local-scores")]) == 0
    modes = {"local": {p.name: p.read_bytes() for p in (tmp_path / "local-scores").iterdir()}}
    with _served(tmp_path, dataset_dir, sub) as (emb, c, pooled):
        raw = c.upload_folder(sub)
        assert pooled.size < raw.size, "one vector per file instead of every frame"
        for mode, up in (("server-pooled", pooled), ("server-raw", raw)):
            job = c.wait(c.evaluate(up.digest, "sLM21"))
            assert job.state == 4, job.failure_reason
            modes[mode] = {f.name: f.content for f in c.get_scores(job.job_id).files}
        # vectors the client pooled are scored from the archive: validation stores no second copy (a raw
        # upload's are left for the scorer, since pooling them is the expensive part)
        from zrc.storage import SUBMISSIONS, keys
        assert emb.storage.list(SUBMISSIONS, keys.derived(pooled.digest)) == []
        assert emb.storage.list(SUBMISSIONS, keys.derived(raw.digest)) != []
        # the CLI against a server: pooled by default
        monkeypatch.setenv("ZRC_SERVER", emb.address)
        monkeypatch.setenv("ZRC_HOME", str(tmp_path / "client"))
        assert main(["benchmarks:run", "sLM21", str(sub), "-q", "-o", str(tmp_path / "cli-scores")]) == 0
        modes["cli-pooled"] = {p.name: p.read_bytes() for p in (tmp_path / "cli-scores").iterdir()}
    # intervals are seeded: the same in every mode; provenance names the job (differs)
    confidence = {mode: files.pop("score_confidence.csv") for mode, files in modes.items()}
    assert len(set(confidence.values())) == 1, confidence.keys()
    for mode, files in modes.items():
        assert files.pop("provenance.json")
        assert files == core, mode


class _Mem(FileTree):
    label = "mem"

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    def names(self):
        return sorted(self.files)

    def read(self, name):
        return self.files[name]


def _pooled_tree(sub) -> dict[str, bytes]:
    tree = DirTree(sub)
    params, _ = read_params(tree, "sLM21")
    files = {n: tree.read(n) for n in tree.names() if not n.startswith("semantic/")}
    findings = Findings()
    files.update(pool_submission(tree, params, ["dev", "test"], findings))
    assert findings.ok
    return files


def _codes(dataset_dir, files) -> dict[str, list]:
    bench = get_benchmark("sLM21")
    report = validate(load_dataset(str(dataset_dir)), _Mem(files), bench, ["dev"], ["semantic"])
    out: dict[str, list] = {}
    for f in report.findings.items:
        out.setdefault(f.code, []).append(f)
    return out


def _npz(names, vectors) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, names=names, vectors=vectors)
    return buf.getvalue()


def test_server_checks_pooled_vectors(slm21_case):
    dataset_dir, sub = slm21_case
    files = _pooled_tree(sub)
    assert _codes(dataset_dir, files) == {}
    with np.load(io.BytesIO(files[pooled_path("dev", "synthetic")])) as z:
        names, vectors = z["names"], z["vectors"].copy()
    vectors[1, 0] = np.nan
    bad_names = names.copy()
    bad_names[2] = "notaword"
    tampered = dict(files)
    tampered[pooled_path("dev", "synthetic")] = _npz(np.concatenate([bad_names, names[:1]]),
                                                     np.concatenate([vectors, vectors[:1]]))
    codes = _codes(dataset_dir, tampered)
    assert codes["array_nonfinite"][0].file == f"semantic/dev/synthetic/{names[1]}.npy"
    assert codes["extra_file"][0].file == "semantic/dev/synthetic/notaword.npy"
    assert "1 of" in codes["missing_file"][0].message and codes["duplicate_file"]
    # the validation service checks without keeping the vectors (its scorers read them from the archive):
    # the same findings, nothing held
    ds, bench = load_dataset(str(dataset_dir)), get_benchmark("sLM21")
    kept = validate(ds, _Mem(tampered), bench, ["dev"], ["semantic"])
    checked = validate(ds, _Mem(tampered), bench, ["dev"], ["semantic"], keep_uploaded=False)
    assert checked.findings.items == kept.findings.items and kept.pooled and not checked.pooled
    # vectors pooled otherwise than params.yaml says, a wrong shape, a pickle: refused with a reason
    other = dict(files)
    other[MANIFEST] = json.dumps({"format": "zrc-pooled-1", "pooling": "max", "ext": ".npy"}).encode()
    assert "pooled_params" in _codes(dataset_dir, other)
    shape = dict(files)
    shape[pooled_path("dev", "librispeech")] = _npz(names, vectors[:, :1].astype(np.float32))
    assert "pooled_format" in _codes(dataset_dir, shape)
    gone = {k: v for k, v in files.items() if k != pooled_path("dev", "librispeech")}
    assert "no .npy files" in _codes(dataset_dir, gone)["missing_file"][0].message


def test_pooled_npz_is_read_in_place_and_refused_when_malformed(slm21_case):
    """The server reads an npz's arrays as views of the member (np.load would copy them twice); a compressed or
    Fortran-ordered npz reads the same, and a corrupt one is a pooled_format finding, never a traceback."""
    from zrc.core.pooled import _npz_arrays

    dataset_dir, sub = slm21_case
    files = _pooled_tree(sub)
    key = pooled_path("dev", "synthetic")
    with np.load(io.BytesIO(files[key])) as z:
        names, vectors = z["names"], z["vectors"]
    got = _npz_arrays(files[key])
    assert np.array_equal(got["names"], names) and np.array_equal(got["vectors"], vectors)
    assert not got["vectors"].flags.writeable, "a view of the member, not a copy"
    base = validate(load_dataset(str(dataset_dir)), _Mem(files), get_benchmark("sLM21"), ["dev"], ["semantic"])
    for variant in ("compressed", "fortran"):
        buf = io.BytesIO()
        if variant == "compressed":
            np.savez_compressed(buf, names=names, vectors=vectors)
        else:
            np.savez(buf, names=names, vectors=np.asfortranarray(vectors))
        other = {**files, key: buf.getvalue()}
        assert _codes(dataset_dir, other) == {}, variant
        report = validate(load_dataset(str(dataset_dir)), _Mem(other), get_benchmark("sLM21"), ["dev"], ["semantic"])
        for t in ("synthetic", "librispeech"):
            assert np.array_equal(report.pooled[("semantic", "dev")][t].vectors,
                                  base.pooled[("semantic", "dev")][t].vectors), variant
    good = files[key]
    header_at = good.index(b"\x93NUMPY", good.index(b"vectors.npy"))
    n, dim = vectors.shape
    lying = (f"({n}, {dim})".encode(), f"({n}, {dim + 1})".encode())   # same length: only the size is wrong
    assert len(lying[0]) == len(lying[1]) and lying[0] in good
    pickled = io.BytesIO()
    np.savez(pickled, names=names, vectors=np.array([object()] * len(names)))
    for label, blob in (("truncated", good[: len(good) // 2]),
                        ("lying header", good[:header_at] + good[header_at:].replace(lying[0], lying[1], 1)),
                        ("bad magic", good[:header_at] + b"XXXXXX" + good[header_at + 6:]),
                        ("object array", pickled.getvalue()),
                        ("not a zip", b"not an npz at all")):
        codes = _codes(dataset_dir, {**files, key: blob})
        assert "pooled_format" in codes, label
        assert codes["pooled_format"][0].file == key, label


def test_client_reports_bad_files_before_uploading(slm21_copy, tmp_path, monkeypatch, capsys):
    dataset_dir, sub = slm21_copy
    bad = next((sub / "semantic/test/librispeech").iterdir())
    np.save(bad, np.full((3, 6), np.inf))
    findings = build_pooled_archive(sub, tmp_path / "p.zip", "sLM21")
    assert [(f.code, f.file) for f in findings.items] == [
        ("array_nonfinite", f"semantic/test/librispeech/{bad.name}")]
    assert not (tmp_path / "p.zip").exists()
    emb = Embedded(tmp_path / "server").start()
    try:
        monkeypatch.setenv("ZRC_SERVER", emb.address)
        monkeypatch.setenv("ZRC_HOME", str(tmp_path / "client"))
        with Client(emb.address) as c:
            c.import_dataset(dataset_dir, "sLM21-dataset")
        assert main(["benchmarks:run", "sLM21", str(sub)]) == 1
        err = capsys.readouterr().err
        assert f"semantic/test/librispeech/{bad.name}" in err and "nothing was uploaded" in err
        assert not list((tmp_path / "server" / "store" / "submissions").rglob("*.zip"))
        # --skip-validation scores what it can, as in the other modes: the files go up raw
        assert main(["benchmarks:run", "sLM21", str(sub), "-q", "--skip-validation", "-o", str(tmp_path / "o")]) == 0
        assert (tmp_path / "o" / "score_semantic_test_correlation.csv").is_file()
    finally:
        emb.close()


def test_a_server_can_require_raw_archives_for_submit(slm21_case, tmp_path):
    dataset_dir, sub = slm21_case
    emb = Embedded(tmp_path / "server", {"ZRC_SUBMIT_REQUIRE_RAW": "true"}).start()
    try:
        with Client(emb.address) as c:
            c.import_dataset(dataset_dir, "sLM21-dataset")
            pooled, _ = c.upload_pooled(sub, "sLM21")
            assert ZipTree(_archive(emb, pooled.digest)).exists(MANIFEST)
            with pytest.raises(grpc.RpcError) as exc:
                c.evaluate(pooled.digest, "sLM21", publish=True)
            assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "--raw" in exc.value.details()
            c.evaluate(pooled.digest, "sLM21")   # scoring without publishing stays pooled
            raw = c.upload_folder(sub)
            assert c.evaluate(raw.digest, "sLM21", publish=True)
    finally:
        emb.close()


def _archive(emb, digest):
    return emb.storage.root / "submissions" / "archives" / f"{digest}.zip"


def test_pooled_archive_is_deterministic(slm21_case, tmp_path):
    _, sub = slm21_case
    build_pooled_archive(sub, tmp_path / "a.zip", "sLM21")
    build_pooled_archive(sub, tmp_path / "b.zip", "sLM21")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    names = ZipTree(tmp_path / "a.zip").names()
    assert not [n for n in names if n.startswith("semantic/")] and MANIFEST in names
    build_archive(sub, tmp_path / "raw.zip")
    assert (tmp_path / "raw.zip").stat().st_size > (tmp_path / "a.zip").stat().st_size


def test_pooled_vectors_larger_than_any_raw_file_are_accepted_within_their_own_cap(case, tmp_path):
    """A HuBERT-sized full submission pools to 16,332 x 768 float64 = 100 MB for one type: more than the 64 MiB
    a single raw file may inflate to (the full-size bench found its pooled jobs INVALID: file_too_large). The
    pooled npz has its own cap, ZRC_LIMIT_POOLED_BYTES; here both caps are scaled down to this small case."""
    from zrc.core.limits import override
    from zrc.storage import SUBMISSIONS, keys

    dataset_dir, sub = case
    core = evaluate(load_dataset(str(dataset_dir)), DirTree(sub), "sLM21").files()
    with _served(tmp_path, dataset_dir, sub) as (emb, c, pooled):
        tree = ZipTree(emb.storage.open(SUBMISSIONS, keys.archive(pooled.digest)))
        npz = max(tree.size(n) or 0 for n in tree.names() if n.endswith(".npz"))
        others = max(tree.size(n) or 0 for n in tree.names() if not n.endswith(".npz"))
        tree.close()
        if npz <= others:
            pytest.skip("at this dimension the pooled vectors are smaller than the score files")
        with override(member_bytes=(npz + others) // 2):   # every other file fits, the pooled npz does not
            job = c.wait(c.evaluate(pooled.digest, "sLM21"))
            assert job.state == 4, [f.message for f in job.findings]
            files = {f.name: f.content for f in c.get_scores(job.job_id).files}
            with override(pooled_bytes=npz - 1):   # over its own cap: refused, naming that setting
                tree = ZipTree(emb.storage.open(SUBMISSIONS, keys.archive(pooled.digest)))
                problems = [p for p in tree.problems if p[0] == "file_too_large"]
                tree.close()
    assert problems and all("ZRC_LIMIT_POOLED_BYTES" in p[1] for p in problems), problems
    files.pop("score_confidence.csv")
    files.pop("provenance.json")
    assert files == core
