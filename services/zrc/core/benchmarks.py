"""The benchmark catalogue: which tasks and sets exist and where their files live.

Everything that differs between tasks is data here, so validation and scoring
have one code path for every (task, set).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InvalidArgument

SETS = ("dev", "test")


class SelectionError(InvalidArgument):
    """Unknown benchmark, task or set asked for (a usage error)."""


@dataclass(frozen=True)
class TaskSpec:
    name: str                     # task name as on the command line (-t)
    subset: str                   # dataset subset prefix: lexical / syntactic / semantic / english
    kind: str                     # "pairs" (text scores) or "semantic" (embeddings)
    scorer: str                   # scoring service that handles it: lexical/syntactic/semantic/prosaudit

    def submission_path(self, set_: str) -> str:
        """Relative path of the score text file (pairs tasks) or the embeddings folder (semantic)."""
        if self.kind == "semantic":
            return f"semantic/{set_}"
        if self.subset == "english":
            return f"english_{set_}.txt"
        return f"{self.subset}/{set_}.txt"

    def gold_path(self, set_: str) -> str:
        return f"{self.subset}/{set_}/gold.csv"


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    dataset: str                  # default dataset name (datasets:import basename)
    tasks: tuple[TaskSpec, ...]
    url: str
    description: str

    def task(self, name: str) -> TaskSpec:
        for t in self.tasks:
            if name in (t.name, t.scorer):
                return t
        raise KeyError(name)

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)


LEXICAL = TaskSpec("lexical", "lexical", "pairs", "lexical")
SYNTACTIC = TaskSpec("syntactic", "syntactic", "pairs", "syntactic")
SEMANTIC = TaskSpec("semantic", "semantic", "semantic", "semantic")
PROSAUDIT = TaskSpec("english", "english", "pairs", "prosaudit")

BENCHMARKS: dict[str, BenchmarkSpec] = {
    "sLM21": BenchmarkSpec(
        name="sLM21",
        dataset="sLM21-dataset",
        tasks=(LEXICAL, SYNTACTIC, SEMANTIC),
        url="https://zerospeech.com/tasks/task_4/tasks_goals/",
        description=(
            "Spoken language modelling (ZeroSpeech 2021 task 4): lexical (sWUGGY spot-the-word), "
            "syntactic (sBLIMP acceptability judgement) and semantic (sSIMI similarity) tasks, "
            "each on a dev and a test set."
        ),
    ),
    "prosAudit": BenchmarkSpec(
        name="prosAudit",
        dataset="prosaudit-dataset",
        tasks=(PROSAUDIT,),
        url="https://zerospeech.com/tasks/task_4/benchmarks_datasets/",
        description=(
            "ProsAudit: prosodic acceptability judgements (lexical and protosyntax types) scored "
            "like sBLIMP from pseudo-probabilities in english_dev.txt / english_test.txt."
        ),
    ),
}

# The reference accepts these spellings too.
_ALIASES = {"slm21": "sLM21", "prosaudit": "prosAudit"}


def get_benchmark(name: str) -> BenchmarkSpec:
    """Look a benchmark up by name (case-insensitive); SelectionError with the known names otherwise."""
    key = _ALIASES.get(name.lower(), name)
    if key.startswith("test-"):
        key = key[5:]
    if key not in BENCHMARKS:
        raise SelectionError(f"unknown benchmark {name!r}; available: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[key]


# The scoring deployments, one per distinct TaskSpec.scorer: the one routing table. Services, the embedded
# stack and `make stack-up` derive their scorer lists and addresses (ZRC_SCORER_<NAME>_ADDR) from it, so a new
# task with a new scorer is added here only.
SCORERS: tuple[str, ...] = tuple(dict.fromkeys(t.scorer for b in BENCHMARKS.values() for t in b.tasks))


def scorer_task(scorer: str) -> TaskSpec:
    """The task a scoring deployment scores; KeyError naming the known scorers otherwise."""
    for b in BENCHMARKS.values():
        for t in b.tasks:
            if t.scorer == scorer:
                return t
    raise KeyError(f"unknown scorer {scorer!r}; known: {', '.join(SCORERS)}")


def select(bench: BenchmarkSpec, sets: Iterable[str] | None, tasks: Iterable[str] | None) -> tuple[list[str], list[str]]:
    """Normalise -s/-t selections; SelectionError names what is accepted."""
    sel_sets = list(dict.fromkeys(sets or SETS))
    bad = [s for s in sel_sets if s not in SETS]
    if bad:
        raise SelectionError(f"unknown set(s) {', '.join(bad)}; expected {' / '.join(SETS)}")
    names = list(tasks or bench.task_names)
    out = []
    for t in names:
        try:
            out.append(bench.task(t).name)
        except KeyError:
            raise SelectionError(f"unknown task {t!r} for {bench.name}; expected {' / '.join(bench.task_names)}") from None
    return [s for s in SETS if s in sel_sets], [t for t in bench.task_names if t in out]
