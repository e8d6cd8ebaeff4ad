"""Deterministic synthetic datasets and matching submissions, in the official layouts.

``scale=1.0`` gives the real set sizes of formats.md §4 (lexical 80k/320k rows,
syntactic 50.4k/126k rows, semantic test 9,744 synthetic + 3,753 librispeech
pairs with 1-10 librispeech tokens per word, ~40k embedding files over dev and
test). Smaller scales shrink every set proportionally. Everything derives from
``seed``: the same arguments always write the same bytes.

The submission is a noisy "model": correct items score higher on average, and
embeddings are built around a latent vector per word that also drives the
human similarity judgements, so correlations are meaningfully non-zero.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .meta import template

LETTERS = np.frombuffer(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
SYNTACTIC_TYPES = {  # dev pair counts per type (formats.md §4); test = x10
    "anaphor_agreement": 200, "argument_structure": 900, "binding": 500, "control_raising": 500,
    "determiner_noun_agreement": 800, "ellipsis": 100, "filler_gap_dependency": 800, "irregular_forms": 200,
    "island_effects": 700, "npi_licensing": 700, "quantifiers": 300, "subject_verb_agreement": 600,
}
SEMANTIC_TEST_PAIRS = {  # (synthetic, librispeech) pairs per dataset, formats.md §4
    "MEN": (2818, 1218), "WordSim-353": (321, 135), "WordSim-353-REL": (230, 105), "WordSim-353-SIM": (189, 79),
    "YP-130": (122, 36), "mc-30": (30, 14), "mturk-287": (263, 71), "rg-65": (65, 19), "rw": (1135, 101),
    "simLex999": (991, 500), "simverb-3500": (3436, 1402), "verb-143": (144, 73),
}
SEMANTIC_DEV_PAIRS = {"mturk-771": (771, 771)}
# (full-size) vocabulary per semantic set: synthetic words (x voices) and librispeech words (x 1-10 tokens)
SEMANTIC_VOCAB = {"dev": (1000, 900), "test": (3500, 3000)}
SYNTHETIC_VOICES = ("Alex", "Ava", "Daniel", "Fred")


@dataclass(frozen=True)
class GenOptions:
    scale: float = 0.01
    seed: int = 0
    dim: int = 32                  # embedding feature dimension
    frames: tuple[int, int] = (20, 60)
    dtype: str = "float64"
    metric: str = "euclidean"
    pooling: str = "mean"
    tie_rate: float = 0.0          # fraction of pairs whose two items get the same score
    neginf_rate: float = 0.0       # fraction of items scored -inf
    nonword_spelling: bool = True  # False: non-words have an empty 'word' (reference falls back to phones)
    sets: tuple[str, ...] = ("dev", "test")


def _names(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """n distinct random-letter stems of the given length."""
    out = np.empty(0, dtype=f"U{length}")
    while out.size < n:
        raw = LETTERS[rng.integers(0, LETTERS.size, size=(2 * (n - out.size) + 8, length))]
        cand = raw.view(f"S{length}").ravel().astype(f"U{length}")
        out = np.unique(np.concatenate([out, cand]))
    return rng.permutation(out)[:n]


def _words(rng: np.random.Generator, n: int, lo: int = 3, hi: int = 9) -> np.ndarray:
    lens = rng.integers(lo, hi + 1, size=n)
    raw = LETTERS[:26][rng.integers(0, 26, size=(n, hi))]
    words = np.array([r[:k].tobytes().decode() for r, k in zip(raw, lens, strict=True)], dtype=object)
    # make them unique by suffixing a counter where needed
    _, inv, counts = np.unique(words.astype(str), return_inverse=True, return_counts=True)
    dup = counts[inv] > 1
    words[dup] = [f"{w}{i}" for i, w in zip(np.flatnonzero(dup), words[dup], strict=True)]
    return words


def _write_csv(path: Path, header: list[str], columns: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(zip(*columns, strict=True))
    path.write_text(buf.getvalue())


def _write_scores(path: Path, names: np.ndarray, scores: np.ndarray, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    order = rng.permutation(names.size)  # order does not matter to the evaluation
    text = "\n".join(f"{n} {s!r}" for n, s in zip(names[order], scores[order].tolist(), strict=True))
    path.write_text(text + "\n")


def _pair_scores(rng: np.random.Generator, n_pairs: int, opt: GenOptions, skill: float) -> tuple[np.ndarray, np.ndarray]:
    """Log-prob-like scores of (correct, incorrect) items; correct wins with probability ~skill."""
    base = rng.normal(-300.0, 40.0, n_pairs)
    good = base + rng.normal(skill * 10, 10.0, n_pairs)
    bad = base + rng.normal(0.0, 10.0, n_pairs)
    good = np.round(good, 4)
    bad = np.round(bad, 4)
    if opt.tie_rate:
        tie = rng.random(n_pairs) < opt.tie_rate
        bad[tie] = good[tie]
    if opt.neginf_rate:
        good[rng.random(n_pairs) < opt.neginf_rate] = -np.inf
        bad[rng.random(n_pairs) < opt.neginf_rate] = -np.inf
    return good, bad


def _n(full: int, scale: float, minimum: int = 2) -> int:
    return max(minimum, int(round(full * scale)))


def generate_lexical(root: Path, sub: Path, set_: str, opt: GenOptions, rng: np.random.Generator) -> None:
    n_ids = _n(10_000 if set_ == "dev" else 40_000, opt.scale, 10)
    voices = np.array(["Alex", "Ava", "Daniel", "Fred"], dtype=object)
    nv = voices.size
    words = _words(rng, n_ids, 4, 10)
    nonwords = _words(rng, n_ids, 4, 10)
    length = rng.integers(4, 15, size=n_ids)
    oov = rng.random(n_ids) < 0.5
    freq = np.where(oov, 0, np.exp(rng.uniform(0, np.log(2000), n_ids)).astype(np.int64) + 1)
    ids = np.repeat(np.arange(n_ids), nv * 2)
    voice = np.tile(np.repeat(voices, 2), n_ids)
    correct = np.tile([1, 0], n_ids * nv)
    stems = _names(rng, ids.size, 11 if set_ == "dev" else 12)
    word_col = np.where(correct == 1, words[ids], nonwords[ids] if opt.nonword_spelling else "")
    phones = np.array([" ".join(w) for w in np.where(correct == 1, words[ids], nonwords[ids])], dtype=object)
    order = rng.permutation(ids.size)  # row order is free for lexical
    _write_csv(root / "lexical" / set_ / "gold.csv",
               ["filename", "id", "voice", "frequency", "word", "phones", "length", "correct"],
               [c[order] for c in (stems, ids, voice, freq[ids], word_col, phones, length[ids], correct)])
    good, bad = _pair_scores(rng, n_ids * nv, opt, skill=1.0)
    scores = np.empty(ids.size)
    scores[0::2], scores[1::2] = good, bad
    _write_scores(sub / "lexical" / f"{set_}.txt", stems, scores, rng)


def generate_syntactic(root: Path, sub: Path, set_: str, opt: GenOptions, rng: np.random.Generator) -> None:
    nv = 4 if set_ == "dev" else 1
    rows_t, rows_s, rows_id = [], [], []
    for t, n in SYNTACTIC_TYPES.items():
        n_ids = _n(n * (1 if set_ == "dev" else 10), opt.scale, 2)
        n_sub = 1 + (len(t) % 3)
        subtype = np.array([f"{t}_{k}" for k in range(n_sub)], dtype=object)[np.arange(n_ids) % n_sub]
        rows_t.append(np.full(n_ids, t, dtype=object))
        rows_s.append(subtype)
        rows_id.append(np.arange(n_ids) // n_sub)   # ids repeat across subtypes, as in the real data
    ptype, psub, pid = (np.concatenate(x) for x in (rows_t, rows_s, rows_id))
    n_pairs = ptype.size
    vocab = _words(rng, 400, 2, 8)
    base = [" ".join(vocab[rng.integers(0, vocab.size, rng.integers(3, 9))]) for _ in range(n_pairs)]
    comma = rng.random(n_pairs) < 0.1
    sentence = np.array([s + (", then" if c else "") for s, c in zip(base, comma, strict=True)], dtype=object)
    non_sentence = np.array([" ".join(reversed(s.split())) for s in sentence], dtype=object)
    voices = np.array(["Alex", "Ava", "Daniel", "Fred"][:nv], dtype=object)
    pair_idx = np.repeat(np.arange(n_pairs), nv * 2)
    voice = np.tile(np.repeat(voices, 2), n_pairs)
    correct = np.tile([1, 0], n_pairs * nv)
    stems = _names(rng, pair_idx.size, 11 if set_ == "dev" else 12)
    trans = np.where(correct == 1, sentence[pair_idx], non_sentence[pair_idx])
    # Correct and incorrect rows keep the same relative order, which the reference's positional
    # pairing needs; the scorer here pairs by key and does not care.
    _write_csv(root / "syntactic" / set_ / "gold.csv",
               ["filename", "id", "voice", "type", "subtype", "correct", "transcription"],
               [stems, pid[pair_idx], voice, ptype[pair_idx], psub[pair_idx], correct, trans])
    good, bad = _pair_scores(rng, n_pairs * nv, opt, skill=0.6)
    scores = np.empty(pair_idx.size)
    scores[0::2], scores[1::2] = good, bad
    _write_scores(sub / "syntactic" / f"{set_}.txt", stems, scores, rng)


def generate_prosaudit(root: Path, sub: Path, set_: str, opt: GenOptions, rng: np.random.Generator) -> None:
    n_ids = _n(2_000 if set_ == "dev" else 8_000, opt.scale, 4)
    ids = rng.choice(np.arange(1000, 1000 + 20 * n_ids), size=n_ids, replace=False)
    types = np.where(np.arange(n_ids) % 2 == 0, "lexical", "protosyntax").astype(object)
    pair_idx = np.repeat(np.arange(n_ids), 2)
    correct = np.tile([1, 0], n_ids)
    k = np.where(correct == 1, 10, 2)
    stems = np.array([f"{a}_7_{b}" for a, b in zip(k, ids[pair_idx], strict=True)], dtype=object)
    _write_csv(root / "english" / set_ / "gold.csv",
               ["filename", "id", "voice", "type", "subtype", "correct"],
               [stems, ids[pair_idx], np.full(pair_idx.size, "Alex", dtype=object), types[pair_idx],
                types[pair_idx], correct])
    good, bad = _pair_scores(rng, n_ids, opt, skill=0.4)
    good, bad = good / 100, bad / 100
    scores = np.empty(pair_idx.size)
    scores[0::2], scores[1::2] = good, bad
    _write_scores(sub / f"english_{set_}.txt", stems.astype(str), scores, rng)


def generate_semantic(root: Path, sub: Path, set_: str, opt: GenOptions, rng: np.random.Generator) -> None:
    pairs_spec = SEMANTIC_DEV_PAIRS if set_ == "dev" else SEMANTIC_TEST_PAIRS
    nw_syn, nw_lib = (_n(v, opt.scale, 6) for v in SEMANTIC_VOCAB[set_])
    latent_dim = 8
    gold_rows: list[tuple[str, str, str, str]] = []
    pair_rows: list[list] = []
    sub_dir = sub / "semantic" / set_
    files_dtype = np.dtype(opt.dtype)
    proj = rng.normal(size=(latent_dim, opt.dim))
    stems = iter(_names(rng, nw_syn * len(SYNTHETIC_VOICES) + nw_lib * 10, 10))
    for t, nwords in (("synthetic", nw_syn), ("librispeech", nw_lib)):
        words = _words(rng, nwords, 3, 10).astype(str)
        latent = rng.normal(size=(nwords, latent_dim))
        folder = sub_dir / t
        folder.mkdir(parents=True, exist_ok=True)
        if t == "synthetic":
            tokens = [(w, v) for w in range(nwords) for v in SYNTHETIC_VOICES]
        else:
            counts = rng.integers(1, 11, size=nwords)
            tokens = [(w, "") for w in range(nwords) for _ in range(counts[w])]
        for w, v in tokens:
            stem = next(stems)
            gold_rows.append((t, stem, v, words[w]))
            frames = int(rng.integers(opt.frames[0], opt.frames[1] + 1))
            center = latent[w] @ proj
            arr = center + rng.normal(scale=2.0, size=(frames, opt.dim))
            np.save(folder / f"{stem}.npy", arr.astype(files_dtype))
        for ds, (n_syn, n_lib) in pairs_spec.items():
            n = _n(n_syn if t == "synthetic" else n_lib, opt.scale, 3)
            a = rng.integers(0, nwords, n)
            b = (a + rng.integers(1, nwords, n)) % nwords
            cos = np.einsum("ij,ij->i", latent[a], latent[b]) / (
                np.linalg.norm(latent[a], axis=1) * np.linalg.norm(latent[b], axis=1))
            human = np.round(np.clip(5 + 4 * cos + rng.normal(scale=1.5, size=n), 0, 10), 2)
            use_sim = ds.endswith("SIM") or ds.startswith("sim")
            for i in range(n):
                sim = human[i] if use_sim else ""
                rel = "" if use_sim else human[i]
                pair_rows.append([t, ds, words[a[i]], words[b[i]], sim, rel])
    _write_csv(root / "semantic" / set_ / "gold.csv", ["type", "filename", "voice", "word"],
               list(zip(*gold_rows, strict=True)))
    _write_csv(root / "semantic" / set_ / "pairs.csv",
               ["type", "dataset", "word_1", "word_2", "similarity", "relatedness"],
               list(zip(*pair_rows, strict=True)))


def generate(out: str | Path, benchmark: str = "sLM21", opt: GenOptions | None = None) -> tuple[Path, Path]:
    """Write ``out/<dataset>/`` and ``out/submission/``; returns both paths."""
    opt = opt or GenOptions()
    out = Path(out)
    rng = np.random.default_rng(opt.seed)
    if benchmark == "prosAudit":
        root, sub = out / "prosaudit-dataset", out / "submission"
        parts = [generate_prosaudit]
    else:
        root, sub = out / "sLM21-dataset", out / "submission"
        parts = [generate_lexical, generate_syntactic, generate_semantic]
    sub.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    for part in parts:
        for set_ in ("dev", "test"):
            if set_ in opt.sets:
                part(root, sub, set_, opt, np.random.default_rng(rng.integers(2**63)))
            else:
                rng.integers(2**63)
    meta = template(benchmark)
    meta.update(username="demo", code_url="https://example.org/demo-model")
    meta["model_info"].update(model_id=None, system_description="synthetic demo submission",
                              train_set="none (generated)", gpu_budget="0")
    meta["publication"].update(author_label="Demo et al.", authors="Demo, A.", paper_title="Generated data",
                               paper_url="https://example.org/paper", institution="zrc-service",
                               team="demo", publication_year=2026)
    (sub / "meta.yaml").write_text(yaml.safe_dump(meta, sort_keys=True))
    params = {"quiet": False, "results_filename": "score_prosodic_{0}_{1}_{2}.csv"} if benchmark == "prosAudit" else {
        "quiet": False,
        "semantic": {"librispeech": True, "metric": opt.metric, "n_jobs": 1, "pooling": opt.pooling,
                     "synthetic": True},
    }
    (sub / "params.yaml").write_text(yaml.safe_dump(params))
    return root, sub


def main(argv: list[str] | None = None) -> None:
    """``python -m zrc.core.generate OUT [--benchmark sLM21] [--scale 1.0] [--dim 768] [--dtype float32]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m zrc.core.generate",
                                 description="write a synthetic dataset + submission (real set sizes at scale 1.0)")
    ap.add_argument("out")
    ap.add_argument("--benchmark", default="sLM21", choices=("sLM21", "prosAudit"))
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dim", type=int, default=32, help="embedding feature dimension (e.g. 768 for HuBERT-base)")
    ap.add_argument("--dtype", default="float64", choices=("float16", "float32", "float64"))
    a = ap.parse_args(argv)
    root, sub = generate(a.out, a.benchmark, GenOptions(scale=a.scale, seed=a.seed, dim=a.dim, dtype=a.dtype))
    print(f"{root}\n{sub}")


if __name__ == "__main__":
    main()
