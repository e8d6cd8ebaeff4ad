"""Validate and score a submission in one call: the single code path for every task and set.

Services call the same functions per task (``score_task``), the in-process CLI
calls :func:`evaluate`. Embedding files are read once: the validation scan pools
them and scoring reuses the pooled vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .benchmarks import SETS, BenchmarkSpec, SelectionError, get_benchmark, select  # noqa: F401 - select: re-exported
from .dataset import Dataset, PairGold
from .findings import Finding, Findings
from .scoring import TaskResult, score_pairs, score_semantic
from .sources import FileTree
from .validation import Report, validate


@dataclass
class Evaluation:
    benchmark: str
    sets: list[str]
    tasks: list[str]
    report: Report
    results: list[TaskResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.ok and bool(self.results)

    @property
    def findings(self) -> list[Finding]:
        return self.report.findings.items

    def files(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for r in self.results:
            out.update(r.files())
        return out


def evaluate(dataset: Dataset, tree: FileTree, benchmark: str, *, sets: Iterable[str] | None = None,
             tasks: Iterable[str] | None = None, skip_validation: bool = False,
             progress: Callable[[str, str, str], None] | None = None) -> Evaluation:
    """Validate (unless skipped) and score the selected tasks and sets.

    With ``skip_validation`` findings are kept as warnings and whatever can be
    scored is scored (missing items lose their pairs), as the reference does.
    """
    bench = get_benchmark(benchmark)
    if dataset.benchmark.name != bench.name:
        raise SelectionError(f"dataset {dataset.name!r} is a {dataset.benchmark.name} dataset, not {bench.name}")
    sel_sets, sel_tasks = select(bench, sets, tasks)
    report = validate(dataset, tree, bench, sel_sets, sel_tasks)
    if skip_validation:
        relaxed = Findings()
        for f in report.findings.items:
            blocking = f.code in ("dataset", "params_yaml")
            relaxed.add("error" if blocking else "warning", f.code, f.message, f.file, f.line)
        report.findings = relaxed
    ev = Evaluation(bench.name, sel_sets, sel_tasks, report)
    if not report.ok:
        return ev
    for task in sel_tasks:
        for set_ in sel_sets:
            if progress:
                progress(task, set_, "scoring")
            result = score_task(dataset, report, task, set_)
            if result is None:
                report.findings.error("not_scored", f"{task} {set_}: nothing to score (input missing)")
                continue
            ev.results.append(result)
            if progress:
                progress(task, set_, "done")
    return ev


def score_task(dataset: Dataset, report: Report, task: str, set_: str) -> TaskResult | None:
    gold = dataset.gold(task, set_)
    if isinstance(gold, PairGold):
        sf = report.score_files.get((task, set_))
        return None if sf is None else score_pairs(gold, sf, report.params)
    pooled = report.pooled.get((task, set_))
    return None if pooled is None else score_semantic(gold, pooled, report.params)
