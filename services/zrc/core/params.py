"""``params.yaml``: the evaluation parameters of a submission, as the reference reads them.

sLM21 defaults: ``{quiet: false, semantic: {librispeech: true, metric: euclidean,
n_jobs: 1, pooling: mean, synthetic: true}}``; the hidden ``lexical``,
``syntactic`` (``score_files_type`` decides ``.npy``/``.txt`` embeddings, under
the *syntactic* key as in the reference) and ``semantic.correlations`` keys are
parsed too. ProsAudit: ``{quiet: false, results_filename: ...}``.

Problems are returned as findings, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from . import yamlsafe
from .findings import Findings
from .limits import excerpt, quoted

# scipy.spatial.distance.cdist metrics accepted by the reference (zs/tasks/lm/params.py)
METRICS = (
    "braycurtis", "canberra", "chebyshev", "cityblock", "correlation", "cosine", "dice",
    "euclidean", "hamming", "jaccard", "jensenshannon", "kulczynski1", "mahalanobis",
    "matching", "minkowski", "rogerstanimoto", "russellrao", "seuclidean",
    "sokalmichener", "sokalsneath", "sqeuclidean", "yule",
)
POOLINGS = ("min", "max", "mean", "sum", "last", "lastlast", "off")
EMBEDDING_EXTENSIONS = (".npy", ".txt")
PROSAUDIT_RESULTS_FILENAME = "score_prosodic_{0}_{1}_{2}.csv"
PARAMS_FILE = "params.yaml"


@dataclass(frozen=True)
class SemanticParams:
    metric: str = "euclidean"
    pooling: str = "mean"
    synthetic: bool = True
    librispeech: bool = True
    correlations: bool = True
    n_jobs: int = 1


@dataclass(frozen=True)
class LexicalParams:
    by_pair: bool = True
    by_length: bool = True
    by_frequency: bool = True


@dataclass(frozen=True)
class Params:
    """Parameters of either benchmark (ProsAudit uses only ``quiet``)."""

    benchmark: str = "sLM21"
    quiet: bool = False
    semantic: SemanticParams = field(default_factory=SemanticParams)
    lexical: LexicalParams = field(default_factory=LexicalParams)
    score_files_type: str = ".npy"

    def export(self) -> dict[str, Any]:
        """What the reference writes to params.yaml (``BenchmarkParameters.export``)."""
        if self.benchmark == "prosAudit":
            return {"quiet": self.quiet, "results_filename": PROSAUDIT_RESULTS_FILENAME}
        s = self.semantic
        return {
            "quiet": self.quiet,
            "semantic": {"librispeech": s.librispeech, "metric": s.metric, "n_jobs": s.n_jobs,
                         "pooling": s.pooling, "synthetic": s.synthetic},
        }

    def to_meta(self) -> dict[str, Any]:
        """The leaderboard's ``details.parameters`` (``to_meta`` in the reference)."""
        if self.benchmark == "prosAudit":
            return {"quiet": self.quiet}
        s = self.semantic
        return {"quiet": self.quiet, "semantic": {"metric": s.metric, "pooling": s.pooling,
                                                  "synthetic": s.synthetic, "librispeech": s.librispeech,
                                                  "n_jobs": s.n_jobs}}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.export())

    def to_json(self) -> str:
        """Lossless JSON (services pass effective params between processes)."""
        import json
        from dataclasses import asdict
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Params:
        import json
        d = json.loads(text)
        return cls(benchmark=d["benchmark"], quiet=d["quiet"], semantic=SemanticParams(**d["semantic"]),
                   lexical=LexicalParams(**d["lexical"]), score_files_type=d["score_files_type"])

    def cache_key(self) -> dict[str, Any]:
        """Everything that can change a score (used to key cached results)."""
        if self.benchmark == "prosAudit":
            return {}
        s = self.semantic
        return {"metric": s.metric, "pooling": s.pooling, "synthetic": s.synthetic,
                "librispeech": s.librispeech, "ext": self.score_files_type}


def default_params(benchmark: str) -> Params:
    return Params(benchmark=benchmark)


def _bool(value: Any, path: str, findings: Findings, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    findings.error("params_type", f"{path} must be true or false, found {quoted(value)}", PARAMS_FILE)
    return default


def parse_params(text: str | bytes | None, benchmark: str) -> tuple[Params, Findings]:
    """Parse params.yaml text (None = file absent = defaults)."""
    findings = Findings()
    params = default_params(benchmark)
    if text is None:
        return params, findings
    try:
        obj = yamlsafe.load(text)
    except yamlsafe.YamlRefused as exc:
        findings.error("params_yaml", exc.message, PARAMS_FILE, exc.line)
        return params, findings
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        findings.error("params_yaml", f"not valid YAML: {excerpt(str(getattr(exc, 'problem', None) or exc))}", PARAMS_FILE,
                       mark.line + 1 if mark else None)
        return params, findings
    if obj is None:
        return params, findings
    if not isinstance(obj, dict):
        findings.error("params_yaml", "expected a mapping of parameters", PARAMS_FILE)
        return params, findings
    quiet = _bool(obj.get("quiet", False), "quiet", findings, False)
    params = replace(params, quiet=quiet)
    if benchmark == "prosAudit":
        for key in obj:
            if key not in ("quiet", "results_filename"):
                findings.warning("params_unknown", f"unknown parameter {quoted(key)} is ignored", PARAMS_FILE)
        return params, findings

    known = {"quiet", "semantic", "lexical", "syntactic"}
    for key in obj:
        if key not in known:
            findings.warning("params_unknown", f"unknown parameter {quoted(key)} is ignored", PARAMS_FILE)

    sem = obj.get("semantic") or {}
    s = SemanticParams()
    if not isinstance(sem, dict):
        findings.error("params_type", "semantic must be a mapping", PARAMS_FILE)
        sem = {}
    metric = sem.get("metric", s.metric)
    if metric not in METRICS:
        findings.error("params_metric", f"semantic.metric {quoted(metric)} is not a scipy cdist metric; "
                       f"expected one of {', '.join(METRICS)}", PARAMS_FILE)
        metric = s.metric
    pooling = sem.get("pooling", s.pooling)
    if pooling not in POOLINGS:
        findings.error("params_pooling", f"semantic.pooling {quoted(pooling)} is not one of {', '.join(POOLINGS)}",
                       PARAMS_FILE)
        pooling = s.pooling
    n_jobs = sem.get("n_jobs", s.n_jobs)
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool):
        findings.error("params_type", f"semantic.n_jobs must be an integer, found {quoted(n_jobs)}", PARAMS_FILE)
        n_jobs = 1
    for key in sem:
        if key not in ("metric", "pooling", "synthetic", "librispeech", "correlations", "n_jobs",
                       "result_filenames"):
            findings.warning("params_unknown", f"unknown parameter semantic.{quoted(key)} is ignored", PARAMS_FILE)
    s = SemanticParams(
        metric=metric, pooling=pooling,
        synthetic=_bool(sem.get("synthetic", True), "semantic.synthetic", findings, True),
        librispeech=_bool(sem.get("librispeech", True), "semantic.librispeech", findings, True),
        correlations=_bool(sem.get("correlations", True), "semantic.correlations", findings, True),
        n_jobs=n_jobs,
    )
    lex = obj.get("lexical") or {}
    if not isinstance(lex, dict):
        findings.error("params_type", "lexical must be a mapping", PARAMS_FILE)
        lex = {}
    lx = LexicalParams(
        by_pair=_bool(lex.get("by_pair", True), "lexical.by_pair", findings, True),
        by_length=_bool(lex.get("by_length", True), "lexical.by_length", findings, True),
        by_frequency=_bool(lex.get("by_frequency", True), "lexical.by_frequency", findings, True),
    )
    syn = obj.get("syntactic") or {}
    ext = syn.get("score_files_type", ".npy") if isinstance(syn, dict) else ".npy"
    if ext not in EMBEDDING_EXTENSIONS:
        findings.error("params_type", f"syntactic.score_files_type must be .npy or .txt, found {quoted(ext)}",
                       PARAMS_FILE)
        ext = ".npy"
    return replace(params, semantic=s, lexical=lx, score_files_type=ext), findings
