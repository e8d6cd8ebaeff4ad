"""Benchmark: wall time and peak RSS per task on a generated full-size case.

    make bench                      # scale 1.0 (real set sizes, ~40k semantic files): 32-dim float64 and
                                    # 768-dim float32 (a HuBERT/wav2vec2-base submission), side by side
    BENCH_SCALE=0.1 make bench      # quick look
    BENCH_CASES=768:float32 make bench   # one case

Each task runs in a fresh process (so its peak RSS is its own), validation
included, score files rendered; then the whole benchmark runs in one process.
The semantic figure is compared with a plain ``np.load`` of every embedding file.
Reference toolkit on the same full-size case (measured on this machine):
lexical 23.8 s, syntactic 25.9 s, semantic 386 s, ProsAudit 3.2 s; 439 s in all.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

REFERENCE_SECONDS = {"lexical": 23.8, "syntactic": 25.9, "semantic": 386.0, "english": 3.2}


DIM, DTYPE = 32, "float64"   # the case's embedding shape (set from --dim / --dtype)


def case_dirs(scale: float, seed: int) -> tuple[Path, Path]:
    shape = "" if (DIM, DTYPE) == (32, "float64") else f"-dim{DIM}-{DTYPE}"
    base = Path(os.environ.get("ZRC_BENCH_DIR", "/tmp/zrc-bench")) / f"scale{scale}-seed{seed}{shape}"
    return base / "slm21", base / "prosaudit"


def ensure_case(scale: float, seed: int) -> None:
    from zrc.core.generate import GenOptions, generate

    slm, pros = case_dirs(scale, seed)
    for out, bench in ((slm, "sLM21"), (pros, "prosAudit")):
        done = out / ".complete"
        if done.exists():
            continue
        t = time.perf_counter()
        generate(out, bench, GenOptions(scale=scale, seed=seed, dim=DIM, dtype=DTYPE))
        done.write_text("ok")
        print(f"generated {bench} case in {time.perf_counter() - t:.1f} s -> {out}", file=sys.stderr)


def run_one(root: Path, benchmark: str, tasks: list[str] | None) -> dict:
    import scipy.stats  # noqa: F401 - imported lazily by the core; kept outside the timing as before

    from zrc.core.dataset import load_dataset
    from zrc.core.pipeline import evaluate
    from zrc.core.sources import open_tree

    t0, c0 = time.perf_counter(), time.process_time()
    ds_dir = root / ("prosaudit-dataset" if benchmark == "prosAudit" else "sLM21-dataset")
    dataset = load_dataset(str(ds_dir))
    t1 = time.perf_counter()
    ev = evaluate(dataset, open_tree(root / "submission"), benchmark, tasks=tasks)
    files = ev.files()
    t2, c2 = time.perf_counter(), time.process_time()
    assert ev.ok, [str(f) for f in ev.findings[:5]]
    # the 95% intervals every scorer adds to its summary (score_confidence.csv)
    from zrc.core.confidence import bootstrap
    for r in ev.results:
        bootstrap(r.units, r.set)
    t3, c3 = time.perf_counter(), time.process_time()
    return {"seconds": t3 - t0, "load_gold": t1 - t0, "intervals": t3 - t2, "files": len(files),
            "cpu": c3 - c0, "intervals_cpu": c3 - c2,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def np_load_all(root: Path) -> dict:
    t0 = time.perf_counter()
    n = 0
    for p in sorted((root / "submission" / "semantic").rglob("*.npy")):
        np.load(p)
        n += 1
    return {"seconds": time.perf_counter() - t0, "files": n,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def vm_hwm_mb(pid: int) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def timed_job(c, digest: str) -> tuple[float, dict[str, bytes]]:
    """Evaluate an uploaded sLM21 submission: (seconds until the job ended, its score files)."""
    t = time.perf_counter()
    job = c.wait(c.evaluate(digest, "sLM21"))
    seconds = time.perf_counter() - t
    assert job.state == 4, job.failure_reason
    return seconds, {f.name: f.content for f in c.get_scores(job.job_id).files}


def run_stack(scale: float, seed: int) -> dict:
    """The same case through the multi-process stack (real S3, real gRPC): end-to-end wall time.

    The submission's files are read once before each pooled run, as before the core's runs: the ratio then
    compares like with like (the --raw runs write ~10 GB, and this machine's memory reclaim drops file pages
    idle for two minutes, so the pooled runs would otherwise read from disk where the core read from memory).
    """
    def warm() -> None:
        child(["--scale", str(scale), "--seed", str(seed), "--child", "npload"])

    from zrc.client import build_archive
    from zrc.stack import Stack

    slm, _ = case_dirs(scale, seed)
    root = Path(os.environ.get("ZRC_BENCH_DIR", "/tmp/zrc-bench")) / f"stack-{os.getpid()}"
    stack = Stack(root)
    out: dict = {}
    try:
        stack.up()
        with stack.client(token=stack.admin_token) as c:
            t = time.perf_counter()
            c.import_dataset(slm / "sLM21-dataset", "sLM21-dataset")
            out["import_s"] = time.perf_counter() - t
            # what `zrc benchmarks:run` does with ZRC_SERVER set: pool here, upload the vectors, score there
            warm()
            t = time.perf_counter()
            pooled, findings = c.upload_pooled(slm / "submission", "sLM21")
            assert findings.ok, findings.items[:3]
            out["pooled_upload_s"] = time.perf_counter() - t
            out["pooled_mb"] = pooled.size / 2**20
            out["pooled_evaluate_s"], out["files_pooled"] = timed_job(c, pooled.digest)
            # --raw: the archive of every file (built first, so the upload rate is the transfer alone)
            raw_zip = root / "raw.zip"
            t = time.perf_counter()
            build_archive(slm / "submission", raw_zip)
            out["archive_build_s"] = time.perf_counter() - t
            t = time.perf_counter()
            up = c.upload_archive(raw_zip)
            out["upload_s"] = time.perf_counter() - t
            out["archive_mb"] = up.size / 2**20
            out["evaluate_s"], files = timed_job(c, up.digest)
            out["files"] = len(files)
            t = time.perf_counter()
            c.wait(c.evaluate(up.digest, "sLM21"))
            out["cached_rerun_s"] = time.perf_counter() - t
            # a second, different submission on the now warm services (gold files already parsed)
            variant = root / "variant.zip"
            shutil.copy(raw_zip, variant)
            with zipfile.ZipFile(variant, "a") as z:
                z.writestr("notes.md", "variant\n")
            t = time.perf_counter()
            up2 = c.upload_archive(variant)
            out["warm_upload_s"] = time.perf_counter() - t
            out["warm_evaluate_s"], _ = timed_job(c, up2.digest)
            # another checkpoint, pooled, on warm services (a hard-linked copy with its own meta.yaml)
            other = root / "checkpoint-2"
            shutil.copytree(slm / "submission", other, copy_function=os.link)
            (other / "meta.yaml").unlink()
            (other / "meta.yaml").write_text((slm / "submission" / "meta.yaml").read_text() + "# checkpoint 2\n")
            warm()
            t = time.perf_counter()
            p2, _ = c.upload_pooled(other, "sLM21")
            out["warm_pooled_upload_s"] = time.perf_counter() - t
            out["warm_pooled_evaluate_s"], _ = timed_job(c, p2.digest)
        out["rss_mb"] = {n: vm_hwm_mb(p.pid) for n, p in stack.procs.items()}
        out["files_equal_core"] = files
    finally:
        stack.down()
        shutil.rmtree(root, ignore_errors=True)
    return out


def _tree_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) if d.is_dir() else 0


def _timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command, measured on that process alone (wait4)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def run_local_cli(scale: float, seed: int) -> dict:
    """What a user types, ZRC_SERVER unset: `zrc benchmarks:run sLM21 SUB` (the embedded stack in-process).

    Two runs of the same folder in one ZRC_HOME: a cold one, then the cached re-run; with the bytes each
    leaves in ZRC_HOME beyond the imported dataset.
    """
    slm, _ = case_dirs(scale, seed)
    root = Path(os.environ.get("ZRC_BENCH_DIR", "/tmp/zrc-bench")) / f"cli-{os.getpid()}"
    zrc = str(Path(sys.executable).parent / "zrc")
    env = {k: v for k, v in os.environ.items() if k != "ZRC_SERVER"}
    env["ZRC_HOME"] = str(root / "home")
    out: dict = {}
    try:
        out["import_s"], _ = _timed([zrc, "datasets:import", str(slm / "sLM21-dataset"), "-q"], env)
        base = _tree_bytes(root / "home")
        for label in ("cold", "rerun"):
            out[f"{label}_s"], out[f"{label}_rss_mb"] = _timed(
                [zrc, "benchmarks:run", "sLM21", str(slm / "submission"), "-q", "-o", str(root / "scores")], env)
            out[f"{label}_home_bytes"] = _tree_bytes(root / "home") - base
            base = _tree_bytes(root / "home")
        out["files"] = {p.name: p.read_bytes() for p in (root / "scores").iterdir()
                        if p.name not in ("score_confidence.csv", "provenance.json")}   # ours, not the reference's
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def child(args: list[str]) -> dict:
    args = [*args, "--dim", str(DIM), "--dtype", DTYPE]
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_cases(text: str) -> list[tuple[int, str]]:
    """``32:float64,768:float32`` -> [(32, "float64"), (768, "float32")]."""
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        dim, _, dtype = item.partition(":")
        dtype = dtype or "float64"
        if not dim.isdigit() or dtype not in ("float16", "float32", "float64"):
            raise SystemExit(f"--cases: expected DIM:DTYPE items such as 768:float32, got {item!r}")
        out.append((int(dim), dtype))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--no-stack", action="store_true", help="skip the multi-process stack measurement")
    ap.add_argument("--dim", type=int, default=32, help="embedding dimension of the generated case (e.g. 768)")
    ap.add_argument("--dtype", default="float64", choices=("float16", "float32", "float64"))
    ap.add_argument("--cases", default="", help="several cases in one run, side by side: e.g. 32:float64,768:float32 "
                                                "(overrides --dim/--dtype)")
    ap.add_argument("--summary", help=argparse.SUPPRESS)   # one case: its side-by-side figures as JSON, here
    a = ap.parse_args()
    global DIM, DTYPE
    if a.child:
        DIM, DTYPE = a.dim, a.dtype
        slm, pros = case_dirs(a.scale, a.seed)
        kind = a.child[0]
        if kind == "npload":
            print(json.dumps(np_load_all(slm)))
        else:
            root = pros if kind == "prosAudit" else slm
            tasks = a.child[1:] or None
            print(json.dumps(run_one(root, "prosAudit" if kind == "prosAudit" else "sLM21", tasks)))
        return
    cases = parse_cases(a.cases) or [(a.dim, a.dtype)]
    if len(cases) == 1:
        DIM, DTYPE = cases[0]
        summary = run_case(a.scale, a.seed, a.no_stack)
        if a.summary:
            Path(a.summary).write_text(json.dumps(summary))
        return
    # one process per case: a child's peak RSS (wait4's ru_maxrss) starts at its parent's size when forked, so
    # a parent grown by one case would inflate every figure of the next
    summaries = []
    for dim, dtype in cases:
        out = Path(os.environ.get("ZRC_BENCH_DIR", "/tmp/zrc-bench")) / f"summary-{os.getpid()}-{dim}-{dtype}.json"
        subprocess.run([sys.executable, __file__, "--scale", str(a.scale), "--seed", str(a.seed), "--cases",
                        f"{dim}:{dtype}", "--summary", str(out), *(["--no-stack"] if a.no_stack else [])], check=True)
        summaries.append(((dim, dtype), json.loads(out.read_text())))
        out.unlink()
    print_side_by_side(a.scale, summaries)


def print_side_by_side(scale: float, summaries: list) -> None:
    """The figures issue 10 sets targets for, one column per case."""
    def fmt(v, spec: str = ".2f", unit: str = "") -> str:
        return "-" if v is None else f"{v:{spec}}{unit}"

    rows = [
        ("core in-process, wall s", "core_s", ".2f", ""),
        ("core in-process, peak MB", "core_rss", ".0f", ""),
        ("local zrc benchmarks:run cold, s", "cli_s", ".2f", ""),
        ("  x core (as a command)", "cli_x", ".2f", "x"),
        ("  peak MB", "cli_rss", ".0f", ""),
        ("  ZRC_HOME growth, MB", "home_mb", ".2f", ""),
        ("np.load floor, s", "npload_s", ".2f", ""),
        ("stack pooled end to end, s", "stack_s", ".2f", ""),
        ("  x core", "stack_x", ".2f", "x"),
        ("  another checkpoint, warm, x core", "stack_warm_x", ".2f", "x"),
        ("stack --raw upload, MB/s", "raw_mbs", ".0f", ""),
    ]
    targets = {"cli_x": "1.3x", "cli_rss": "600 (768-dim)", "home_mb": "5", "stack_x": "2x"}
    heads = [f"{d}-dim {t}" for (d, t), _ in summaries]
    print(f"\nside by side, scale {scale} (targets from issue 10)")
    print(f"{'':<38}" + "".join(f"{h:>18}" for h in heads) + f"{'target':>16}")
    for label, key, spec, unit in rows:
        print(f"{label:<38}" + "".join(f"{fmt(s.get(key), spec, unit):>18}" for _, s in summaries)
              + f"{targets.get(key, ''):>16}")
    print(f"{'score files identical in every mode':<38}"
          + "".join(f"{str(s.get('identical')):>18}" for _, s in summaries))


def run_case(scale: float, seed: int, no_stack: bool) -> dict:
    """Every figure of one case (DIM, DTYPE), printed as it comes; returns the ones compared side by side."""
    slm, _ = case_dirs(scale, seed)
    ensure_case(scale, seed)
    child(["--scale", str(scale), "--seed", str(seed), "--child", "npload"])  # warm the page cache once
    rows = []
    for label, args in (("lexical", ["sLM21", "lexical"]), ("syntactic", ["sLM21", "syntactic"]),
                        ("semantic", ["sLM21", "semantic"]), ("english", ["prosAudit"])):
        r = child(["--scale", str(scale), "--seed", str(seed), "--child", *args])
        rows.append((label, r))
    npl = child(["--scale", str(scale), "--seed", str(seed), "--child", "npload"])
    whole = child(["--scale", str(scale), "--seed", str(seed), "--child", "sLM21"])
    whole_p = child(["--scale", str(scale), "--seed", str(seed), "--child", "prosAudit"])
    total = sum(r["seconds"] for _, r in rows)
    print(f"\nzrc-service benchmark, scale {scale} (1.0 = real set sizes), seed {seed}, "
          f"{DIM}-dim {DTYPE} embeddings")
    print(f"{'task':<12}{'wall s':>9}{'peak RSS MB':>13}{'reference s':>13}{'speed-up':>10}")
    for label, r in rows:
        ref = REFERENCE_SECONDS[label] * (scale if scale != 1.0 else 1.0)
        print(f"{label:<12}{r['seconds']:>9.2f}{r['peak_rss_mb']:>13.0f}{ref:>13.1f}{ref / r['seconds']:>9.0f}x")
    ref_total = sum(REFERENCE_SECONDS.values()) * (scale if scale != 1.0 else 1.0)
    print(f"{'total':<12}{total:>9.2f}{max(r['peak_rss_mb'] for _, r in rows):>13.0f}{ref_total:>13.1f}"
          f"{ref_total / total:>9.0f}x")
    print(f"one process, sLM21 all tasks: {whole['seconds']:.2f} s, peak RSS {whole['peak_rss_mb']:.0f} MB; "
          f"prosAudit: {whole_p['seconds']:.2f} s")
    ci = sum(r["intervals"] for _, r in rows)
    ci_cpu, cpu = sum(r["intervals_cpu"] for _, r in rows), sum(r["cpu"] for _, r in rows)
    print(f"95% intervals (bootstrap, included above): {ci:.2f} s of {total:.2f} s wall; CPU {ci_cpu:.2f} of "
          f"{cpu:.2f} s = +{100 * ci_cpu / (cpu - ci_cpu):.0f}% over scoring alone; "
          + ", ".join(f"{label} {r['intervals']:.2f} s" for label, r in rows))
    sem = dict(rows)["semantic"]["seconds"]
    print(f"semantic vs np.load of its {npl['files']} files ({npl['seconds']:.2f} s): {sem / npl['seconds']:.2f}x")
    if scale != 1.0:
        print("(reference seconds scaled linearly from the full-size measurement; only scale 1.0 is comparable)")
    cli = run_local_cli(scale, seed)
    # the core as a whole command too (interpreter start and imports included), comparable with `zrc ...`
    core_cmd = [sys.executable, __file__, "--scale", str(scale), "--seed", str(seed), "--dim", str(DIM),
                "--dtype", DTYPE, "--child", "sLM21"]
    core_wall, core_rss = _timed(core_cmd, dict(os.environ))
    from zrc.core.dataset import load_dataset
    from zrc.core.pipeline import evaluate
    from zrc.core.sources import open_tree
    core = evaluate(load_dataset(str(slm / "sLM21-dataset")), open_tree(slm / "submission"), "sLM21").files()
    print("\nlocal CLI, ZRC_SERVER unset (`zrc benchmarks:run sLM21 SUB`, embedded stack, folder read in place):")
    print(f"{'':<26}{'wall s':>9}{'peak RSS MB':>13}{'x core':>8}{'ZRC_HOME +MB':>14}")
    print(f"{'core (load + evaluate)':<26}{whole['seconds']:>9.2f}{whole['peak_rss_mb']:>13.0f}{'':>8}{'-':>14}")
    print(f"{'core as a command':<26}{core_wall:>9.2f}{core_rss:>13.0f}{1:>8.2f}{'-':>14}")
    for label in ("cold", "rerun"):
        print(f"{'zrc benchmarks:run ' + label:<26}{cli[label + '_s']:>9.2f}{cli[label + '_rss_mb']:>13.0f}"
              f"{cli[label + '_s'] / core_wall:>8.2f}{cli[label + '_home_bytes'] / 1e6:>14.2f}")
    print(f"{'np.load floor':<26}{npl['seconds']:>9.2f}{npl['peak_rss_mb']:>13.0f}{'':>8}{'-':>14}")
    print("  (x core: wall over the core run as a command: interpreter start and imports in both)")
    print(f"  score files identical to the in-process core: {cli['files'] == core}")
    summary = {"core_s": whole["seconds"], "core_rss": whole["peak_rss_mb"], "cli_s": cli["cold_s"],
               "cli_x": cli["cold_s"] / core_wall, "cli_rss": cli["cold_rss_mb"],
               "home_mb": cli["cold_home_bytes"] / 1e6, "npload_s": npl["seconds"], "identical": cli["files"] == core}
    if no_stack:
        return summary
    st = run_stack(scale, seed)
    ours = ("score_confidence.csv", "provenance.json")   # written next to the reference files
    same = {k: v for k, v in st.pop("files_equal_core").items() if k not in ours} == core
    same_pooled = {k: v for k, v in st.pop("files_pooled").items() if k not in ours} == core
    e2e = st["upload_s"] + st["evaluate_s"]
    e2e_pooled = st["pooled_upload_s"] + st["pooled_evaluate_s"]
    print("\nmulti-process stack (SeaweedFS S3 + 7 services), sLM21 all tasks:")
    print(f"  pooled (default with ZRC_SERVER): pool + upload {st['pooled_mb']:.1f} MB {st['pooled_upload_s']:.2f} s; "
          f"evaluate {st['pooled_evaluate_s']:.2f} s; end to end {e2e_pooled:.2f} s = "
          f"{e2e_pooled / whole['seconds']:.2f}x the core ({whole['seconds']:.2f} s); identical files: {same_pooled}")
    print(f"  --raw: build archive {st['archive_build_s']:.2f} s; upload {st['archive_mb']:.0f} MB "
          f"{st['upload_s']:.2f} s ({st['archive_mb'] / st['upload_s']:.0f} MB/s); evaluate {st['evaluate_s']:.2f} s; "
          f"end to end {e2e:.2f} s; cached re-run {st['cached_rerun_s']:.2f} s")
    print(f"  a second submission on warm services: upload {st['warm_upload_s']:.2f} s (archive already built), "
          f"evaluate {st['warm_evaluate_s']:.2f} s")
    warm = st["warm_pooled_upload_s"] + st["warm_pooled_evaluate_s"]
    print(f"  another checkpoint pooled, warm services: pool + upload {st['warm_pooled_upload_s']:.2f} s, evaluate "
          f"{st['warm_pooled_evaluate_s']:.2f} s; end to end {warm:.2f} s = {warm / whole['seconds']:.2f}x the core")
    print(f"  score files identical to the in-process core: {same}")
    print("  peak RSS per process (MB): " + ", ".join(f"{n} {v:.0f}" for n, v in st["rss_mb"].items()))
    summary.update(stack_s=e2e_pooled, stack_x=e2e_pooled / whole["seconds"], stack_warm_x=warm / whole["seconds"],
                   raw_mbs=st["archive_mb"] / st["upload_s"], identical=summary["identical"] and same and same_pooled)
    return summary


if __name__ == "__main__":
    main()
