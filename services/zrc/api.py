"""The Python API: ``zrc.evaluate("sLM21", "my-submission")`` from a script or a notebook.

It runs exactly what ``zrc benchmarks:run`` runs (the embedded services, or the server named by
``ZRC_SERVER``), so the numbers are the CLI's: the score tables are read back from the very score files the
CLI writes, and the headline scores are the same leaderboard entry. Nothing here needs pandas; every table
column is a numpy array (numbers) or a numpy object array of strings.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zrc.core.findings import Finding


class ZrcError(ValueError):
    """A usage or setup problem (unknown benchmark, missing folder, dataset not imported, server unreachable)."""


@dataclass(frozen=True)
class ScoreTable:
    """One score file as columns: ``t["score"]`` is a numpy array, ``t.columns`` maps every column name."""

    name: str
    columns: Mapping[str, np.ndarray]

    def __getitem__(self, column: str) -> np.ndarray:
        return self.columns[column]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def rows(self) -> list[dict]:
        """The table as a list of row dictionaries (plain Python values)."""
        names = list(self.columns)
        return [dict(zip(names, vals, strict=True)) for vals in zip(*(self.columns[n].tolist() for n in names),
                                                                     strict=True)]


@dataclass(frozen=True)
class Result:
    """What an evaluation gave.

    ``ok`` is False for an invalid submission (``findings`` say why; nothing was scored). ``scores`` is the
    leaderboard entry's nested scores (as ``benchmarks:run --json``); ``headline`` flattens it to
    ``{"lexical.all": {"dev": 0.71, "test": None}, ...}``; ``tables`` holds each score file by name.
    """

    benchmark: str
    ok: bool
    job_id: str
    findings: list[Finding] = field(default_factory=list)
    scores: dict = field(default_factory=dict)
    tables: dict[str, ScoreTable] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def headline(self) -> dict[str, dict[str, float | None]]:
        return headline(self.scores)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def write(self, folder: str | Path) -> Path:
        """Write the score files (byte for byte what the CLI writes) to ``folder``."""
        from zrc.cli.main import _write_scores

        out = Path(folder)
        _write_scores(self.files, out)
        return out


def headline(scores: Mapping) -> dict[str, dict[str, float | None]]:
    """``{"semantic.weighted.synthetic": {"dev": x, "test": y}, ...}`` from a leaderboard entry's scores."""
    flat: dict[str, dict[str, float | None]] = {}

    def walk(node, path: tuple[str, ...]) -> None:
        if isinstance(node, Mapping) and {"dev", "test"} & set(node):
            flat[".".join(path)] = {s: _value(node.get(s)) for s in ("dev", "test")}
        elif isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, (*path, str(k)))

    walk(scores, ())
    return flat


def _value(v) -> float | None:
    if isinstance(v, Mapping):   # ProsAudit: {"score": ..., "n": ..., "std": ...}
        v = v.get("score")
    return None if v is None else float(v)


def _table(name: str, data: bytes) -> ScoreTable:
    from zrc.core.table import read_csv

    t = read_csv(data, file=name)
    return ScoreTable(name, {c: t[c] for c in t.names})


def evaluate(benchmark: str, submission: str | Path, *, sets: Iterable[str] | None = None,
             tasks: Iterable[str] | None = None, dataset: str | None = None,
             skip_validation: bool = False) -> Result:
    """Validate and score ``submission`` (a folder) for ``benchmark`` ("sLM21" or "prosAudit").

    Uses the server in ``ZRC_SERVER`` if set, else the embedded services over ``ZRC_HOME`` (the dataset must
    have been imported, e.g. ``zrc datasets:import``). Raises :class:`ZrcError` for usage problems; an invalid
    submission is not an exception: ``result.ok`` is False and ``result.findings`` say why.
    """
    from zrc.cli import main as cli
    from zrc.common import convert

    a = argparse.Namespace(name=benchmark, submission=str(submission), sets=list(sets) if sets else None,
                           tasks=list(tasks) if tasks else None, dataset=dataset)
    try:
        bench = cli._bench(a.name)
        cli._submission_dir(a.submission)
        sel_sets, sel_tasks = cli._selection_args(a, cli.get_benchmark(bench))
        with cli.session() as client:
            cli._require_dataset(client, bench, dataset)
            digest = cli._upload(client, a.submission, quiet=True)
            job_id = client.evaluate(digest, bench, dataset=dataset or "", sets=sel_sets, tasks=sel_tasks,
                                     skip_validation=skip_validation)
            job = cli._watch(client, job_id, quiet=True)
            findings = [Finding(**cli._data.finding_from_pb(f)) for f in job.findings]
            state = cli.gateway_pb2
            if job.state == state.JOB_STATE_INVALID:
                return Result(bench, False, job_id, findings)
            if job.state != state.JOB_STATE_SUCCEEDED:
                raise ZrcError(f"evaluation failed: {job.failure_reason or 'unknown reason'} (job {job_id})")
            res = client.get_scores(job_id)
    except cli.UsageError as exc:
        raise ZrcError(str(exc)) from None
    files = {f.name: f.content for f in res.files}
    entry = convert.entry_py(res.entry)
    return Result(bench, True, job_id, findings, entry["scores"],
                  {n: _table(n, files[n]) for n in sorted(files) if n.endswith(".csv")}, files)
