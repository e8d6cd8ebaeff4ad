"""Selection resolution: the one place a (benchmark, dataset, sets, tasks) request becomes concrete.

The gateway checks a request with it before making a job, the runner splits a job into parts with it, and
validation and the scorers find their dataset with it, so every step agrees on what a selection means.
"""

from __future__ import annotations

from dataclasses import dataclass

from zrc.core.benchmarks import BenchmarkSpec, SelectionError, TaskSpec, get_benchmark, select


@dataclass(frozen=True)
class Selected:
    bench: BenchmarkSpec
    sets: list[str]
    tasks: list[str]
    dataset: str            # dataset name (the benchmark's default when the request names none)
    dataset_digest: str = ""  # content digest of the imported dataset ("" when not looked up)

    @property
    def parts(self) -> list[tuple[str, str]]:
        """(task, set) pairs in catalogue order: what the runner scores, one scorer call each."""
        return [(t, s) for t in self.tasks for s in self.sets]

    def spec(self, task: str) -> TaskSpec:
        return self.bench.task(task)


def resolve(sel, datasets=None) -> Selected:
    """Normalise ``sel`` (anything with benchmark, dataset, sets, tasks: a Selection message or a namespace).

    With ``datasets`` (a :class:`zrc.app.datasets.DatasetCache`) the dataset must be imported (NotFound
    otherwise) and be one of this benchmark's (SelectionError); its manifest digest is filled in. Unknown
    benchmark, set or task -> SelectionError naming what is accepted.
    """
    bench = get_benchmark(sel.benchmark)
    sets, tasks = select(bench, list(sel.sets) or None, list(sel.tasks) or None)
    name = sel.dataset or bench.dataset
    digest = ""
    if datasets is not None:
        man = datasets.manifest(name)
        if man["benchmark"] != bench.name:
            raise SelectionError(f"dataset {name} is a {man['benchmark']} dataset, not {bench.name}")
        digest = man["digest"]
    return Selected(bench, sets, tasks, name, digest)
