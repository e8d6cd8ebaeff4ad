"""CPU cost of the 95% intervals at the real set sizes (formats.md §4), without generating a full case.

    .venv/bin/python bench/intervals_fullsize.py

Units carry the value distributions of real scores (voice-averaged pair accuracies on 1/V steps, human
judgements with ties, continuous distances); the bootstrap cost depends only on those sizes and values.
"""

from __future__ import annotations

import time

import numpy as np

from zrc.core.confidence import bootstrap, pair_units, semantic_units

SEM_TEST = {"MEN": (2818, 1218), "WordSim-353": (321, 135), "WordSim-353-REL": (230, 105),
            "WordSim-353-SIM": (189, 79), "YP-130": (122, 36), "mc-30": (30, 14), "mturk-287": (263, 71),
            "rg-65": (65, 19), "rw": (1135, 101), "simLex999": (991, 500), "simverb-3500": (3436, 1402),
            "verb-143": (144, 73)}


def main() -> None:
    rng = np.random.default_rng(0)
    parts = []
    for set_, n, voices in (("dev", 10_000, 4), ("test", 40_000, 4)):
        score = rng.binomial(voices * 2, 0.7, n) / (voices * 2)
        parts.append(("lexical " + set_, pair_units("lexical", score, in_vocab=rng.random(n) < 0.5), set_))
    for set_, n, voices in (("dev", 6_300, 4), ("test", 63_000, 1)):
        parts.append(("syntactic " + set_, pair_units("syntactic", rng.binomial(voices * 2, 0.6, n) / (voices * 2)),
                      set_))
    sizes = [(d, t, k) for d, (s, lb) in SEM_TEST.items() for t, k in (("synthetic", s), ("librispeech", lb))]
    for set_, scale in (("dev", 771 / 13_497), ("test", 1.0)):
        rows = [(d, t, max(int(k * scale), 3)) for d, t, k in sizes] if set_ == "test" else \
            [("mturk-771", "synthetic", 771), ("mturk-771", "librispeech", 771)]
        ds = np.concatenate([np.full(k, d) for d, _, k in rows])
        ty = np.concatenate([np.full(k, t) for _, t, k in rows])
        human = np.round(rng.random(ds.size) * 10, 1)
        parts.append(("semantic " + set_, semantic_units(ty, ds, human, human, human + rng.normal(0, 3, ds.size)),
                      set_))
    total = 0.0
    for label, units, set_ in parts:
        best = min(_cpu(units, set_) for _ in range(3))
        total += best
        print(f"{label:<16}{units.n:>8} units  {best:6.3f} CPU s")
    print(f"{'all':<16}{'':>8}        {total:6.3f} CPU s   (README: full-size evaluation ~6 s)")


def _cpu(units, set_) -> float:
    t = time.process_time()
    bootstrap(units, set_)
    return time.process_time() - t


if __name__ == "__main__":
    main()
