import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_ERROR: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
SEVERITY_UNSPECIFIED: Severity
SEVERITY_ERROR: Severity
SEVERITY_WARNING: Severity

class Finding(_message.Message):
    __slots__ = ("severity", "code", "message", "file", "line")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    severity: Severity
    code: str
    message: str
    file: str
    line: int
    def __init__(self, severity: _Optional[_Union[Severity, str]] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., file: _Optional[str] = ..., line: _Optional[int] = ...) -> None: ...

class File(_message.Message):
    __slots__ = ("name", "content")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    content: bytes
    def __init__(self, name: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class Selection(_message.Message):
    __slots__ = ("submission_digest", "benchmark", "dataset", "sets", "tasks", "local_ref")
    SUBMISSION_DIGEST_FIELD_NUMBER: _ClassVar[int]
    BENCHMARK_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SETS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_REF_FIELD_NUMBER: _ClassVar[int]
    submission_digest: str
    benchmark: str
    dataset: str
    sets: _containers.RepeatedScalarFieldContainer[str]
    tasks: _containers.RepeatedScalarFieldContainer[str]
    local_ref: str
    def __init__(self, submission_digest: _Optional[str] = ..., benchmark: _Optional[str] = ..., dataset: _Optional[str] = ..., sets: _Optional[_Iterable[str]] = ..., tasks: _Optional[_Iterable[str]] = ..., local_ref: _Optional[str] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("null_value", "bool_value", "int_value", "double_value", "string_value", "list_value", "map_value")
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    LIST_VALUE_FIELD_NUMBER: _ClassVar[int]
    MAP_VALUE_FIELD_NUMBER: _ClassVar[int]
    null_value: _struct_pb2.NullValue
    bool_value: bool
    int_value: int
    double_value: float
    string_value: str
    list_value: ValueList
    map_value: ValueMap
    def __init__(self, null_value: _Optional[_Union[_struct_pb2.NullValue, str]] = ..., bool_value: _Optional[bool] = ..., int_value: _Optional[int] = ..., double_value: _Optional[float] = ..., string_value: _Optional[str] = ..., list_value: _Optional[_Union[ValueList, _Mapping]] = ..., map_value: _Optional[_Union[ValueMap, _Mapping]] = ...) -> None: ...

class ValueList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class ValueMap(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ValueMapEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[ValueMapEntry, _Mapping]]] = ...) -> None: ...

class ValueMapEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: Value
    def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class SubmissionMeta(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: ValueMap
    def __init__(self, document: _Optional[_Union[ValueMap, _Mapping]] = ...) -> None: ...

class SubmissionParams(_message.Message):
    __slots__ = ("benchmark", "quiet", "semantic", "lexical", "score_files_type")
    BENCHMARK_FIELD_NUMBER: _ClassVar[int]
    QUIET_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_FIELD_NUMBER: _ClassVar[int]
    LEXICAL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FILES_TYPE_FIELD_NUMBER: _ClassVar[int]
    benchmark: str
    quiet: bool
    semantic: SemanticParams
    lexical: LexicalParams
    score_files_type: str
    def __init__(self, benchmark: _Optional[str] = ..., quiet: _Optional[bool] = ..., semantic: _Optional[_Union[SemanticParams, _Mapping]] = ..., lexical: _Optional[_Union[LexicalParams, _Mapping]] = ..., score_files_type: _Optional[str] = ...) -> None: ...

class SemanticParams(_message.Message):
    __slots__ = ("metric", "pooling", "synthetic", "librispeech", "correlations", "n_jobs")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    POOLING_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_FIELD_NUMBER: _ClassVar[int]
    LIBRISPEECH_FIELD_NUMBER: _ClassVar[int]
    CORRELATIONS_FIELD_NUMBER: _ClassVar[int]
    N_JOBS_FIELD_NUMBER: _ClassVar[int]
    metric: str
    pooling: str
    synthetic: bool
    librispeech: bool
    correlations: bool
    n_jobs: int
    def __init__(self, metric: _Optional[str] = ..., pooling: _Optional[str] = ..., synthetic: _Optional[bool] = ..., librispeech: _Optional[bool] = ..., correlations: _Optional[bool] = ..., n_jobs: _Optional[int] = ...) -> None: ...

class LexicalParams(_message.Message):
    __slots__ = ("by_pair", "by_length", "by_frequency")
    BY_PAIR_FIELD_NUMBER: _ClassVar[int]
    BY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    BY_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    by_pair: bool
    by_length: bool
    by_frequency: bool
    def __init__(self, by_pair: _Optional[bool] = ..., by_length: _Optional[bool] = ..., by_frequency: _Optional[bool] = ...) -> None: ...

class ScoreSummary(_message.Message):
    __slots__ = ("task", "set", "all", "by_frequency", "by_length", "by_type", "correlation", "sizes", "confidence", "in_vocab", "has_all", "has_sizes", "has_confidence")
    class SizesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TASK_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    BY_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    BY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_FIELD_NUMBER: _ClassVar[int]
    SIZES_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    IN_VOCAB_FIELD_NUMBER: _ClassVar[int]
    HAS_ALL_FIELD_NUMBER: _ClassVar[int]
    HAS_SIZES_FIELD_NUMBER: _ClassVar[int]
    HAS_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    task: str
    set: str
    all: float
    by_frequency: ScoreTable
    by_length: ScoreTable
    by_type: ScoreTable
    correlation: ScoreTable
    sizes: _containers.ScalarMap[str, int]
    confidence: _containers.RepeatedCompositeFieldContainer[ConfidenceInterval]
    in_vocab: bytes
    has_all: bool
    has_sizes: bool
    has_confidence: bool
    def __init__(self, task: _Optional[str] = ..., set: _Optional[str] = ..., all: _Optional[float] = ..., by_frequency: _Optional[_Union[ScoreTable, _Mapping]] = ..., by_length: _Optional[_Union[ScoreTable, _Mapping]] = ..., by_type: _Optional[_Union[ScoreTable, _Mapping]] = ..., correlation: _Optional[_Union[ScoreTable, _Mapping]] = ..., sizes: _Optional[_Mapping[str, int]] = ..., confidence: _Optional[_Iterable[_Union[ConfidenceInterval, _Mapping]]] = ..., in_vocab: _Optional[bytes] = ..., has_all: _Optional[bool] = ..., has_sizes: _Optional[bool] = ..., has_confidence: _Optional[bool] = ...) -> None: ...

class ScoreTable(_message.Message):
    __slots__ = ("columns",)
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[ScoreColumn]
    def __init__(self, columns: _Optional[_Iterable[_Union[ScoreColumn, _Mapping]]] = ...) -> None: ...

class ScoreColumn(_message.Message):
    __slots__ = ("name", "doubles", "ints", "strings")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOUBLES_FIELD_NUMBER: _ClassVar[int]
    INTS_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    doubles: DoubleColumn
    ints: IntColumn
    strings: StringColumn
    def __init__(self, name: _Optional[str] = ..., doubles: _Optional[_Union[DoubleColumn, _Mapping]] = ..., ints: _Optional[_Union[IntColumn, _Mapping]] = ..., strings: _Optional[_Union[StringColumn, _Mapping]] = ...) -> None: ...

class DoubleColumn(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class IntColumn(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class StringColumn(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class ConfidenceInterval(_message.Message):
    __slots__ = ("metric", "estimate", "ci_low", "ci_high", "n_units", "resamples")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    N_UNITS_FIELD_NUMBER: _ClassVar[int]
    RESAMPLES_FIELD_NUMBER: _ClassVar[int]
    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    n_units: int
    resamples: int
    def __init__(self, metric: _Optional[str] = ..., estimate: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., n_units: _Optional[int] = ..., resamples: _Optional[int] = ...) -> None: ...

class LeaderboardEntry(_message.Message):
    __slots__ = ("model_id", "submission_id", "index", "submission_date", "submitted_by", "description", "publication", "details", "slm21_scores", "prosaudit_scores", "slm21_extras", "zrc")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_DATE_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_BY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PUBLICATION_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    SLM21_SCORES_FIELD_NUMBER: _ClassVar[int]
    PROSAUDIT_SCORES_FIELD_NUMBER: _ClassVar[int]
    SLM21_EXTRAS_FIELD_NUMBER: _ClassVar[int]
    ZRC_FIELD_NUMBER: _ClassVar[int]
    model_id: Value
    submission_id: str
    index: int
    submission_date: _timestamp_pb2.Timestamp
    submitted_by: Value
    description: Value
    publication: EntryPublication
    details: EntryDetails
    slm21_scores: Slm21Scores
    prosaudit_scores: ProsAuditScores
    slm21_extras: Slm21Extras
    zrc: PublishedEntry
    def __init__(self, model_id: _Optional[_Union[Value, _Mapping]] = ..., submission_id: _Optional[str] = ..., index: _Optional[int] = ..., submission_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., submitted_by: _Optional[_Union[Value, _Mapping]] = ..., description: _Optional[_Union[Value, _Mapping]] = ..., publication: _Optional[_Union[EntryPublication, _Mapping]] = ..., details: _Optional[_Union[EntryDetails, _Mapping]] = ..., slm21_scores: _Optional[_Union[Slm21Scores, _Mapping]] = ..., prosaudit_scores: _Optional[_Union[ProsAuditScores, _Mapping]] = ..., slm21_extras: _Optional[_Union[Slm21Extras, _Mapping]] = ..., zrc: _Optional[_Union[PublishedEntry, _Mapping]] = ...) -> None: ...

class EntryPublication(_message.Message):
    __slots__ = ("author_short", "authors", "paper_title", "paper_ref", "bib_ref", "paper_url", "pub_year", "team_name", "institution", "code", "doi", "open_science")
    AUTHOR_SHORT_FIELD_NUMBER: _ClassVar[int]
    AUTHORS_FIELD_NUMBER: _ClassVar[int]
    PAPER_TITLE_FIELD_NUMBER: _ClassVar[int]
    PAPER_REF_FIELD_NUMBER: _ClassVar[int]
    BIB_REF_FIELD_NUMBER: _ClassVar[int]
    PAPER_URL_FIELD_NUMBER: _ClassVar[int]
    PUB_YEAR_FIELD_NUMBER: _ClassVar[int]
    TEAM_NAME_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DOI_FIELD_NUMBER: _ClassVar[int]
    OPEN_SCIENCE_FIELD_NUMBER: _ClassVar[int]
    author_short: Value
    authors: Value
    paper_title: Value
    paper_ref: Value
    bib_ref: Value
    paper_url: Value
    pub_year: Value
    team_name: Value
    institution: Value
    code: Value
    doi: Value
    open_science: bool
    def __init__(self, author_short: _Optional[_Union[Value, _Mapping]] = ..., authors: _Optional[_Union[Value, _Mapping]] = ..., paper_title: _Optional[_Union[Value, _Mapping]] = ..., paper_ref: _Optional[_Union[Value, _Mapping]] = ..., bib_ref: _Optional[_Union[Value, _Mapping]] = ..., paper_url: _Optional[_Union[Value, _Mapping]] = ..., pub_year: _Optional[_Union[Value, _Mapping]] = ..., team_name: _Optional[_Union[Value, _Mapping]] = ..., institution: _Optional[_Union[Value, _Mapping]] = ..., code: _Optional[_Union[Value, _Mapping]] = ..., doi: _Optional[_Union[Value, _Mapping]] = ..., open_science: _Optional[bool] = ...) -> None: ...

class EntryDetails(_message.Message):
    __slots__ = ("train_set", "benchmarks", "gpu_budget", "parameters")
    TRAIN_SET_FIELD_NUMBER: _ClassVar[int]
    BENCHMARKS_FIELD_NUMBER: _ClassVar[int]
    GPU_BUDGET_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    train_set: Value
    benchmarks: _containers.RepeatedScalarFieldContainer[str]
    gpu_budget: str
    parameters: EntryParameters
    def __init__(self, train_set: _Optional[_Union[Value, _Mapping]] = ..., benchmarks: _Optional[_Iterable[str]] = ..., gpu_budget: _Optional[str] = ..., parameters: _Optional[_Union[EntryParameters, _Mapping]] = ...) -> None: ...

class EntryParameters(_message.Message):
    __slots__ = ("quiet", "semantic")
    QUIET_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_FIELD_NUMBER: _ClassVar[int]
    quiet: bool
    semantic: SemanticParams
    def __init__(self, quiet: _Optional[bool] = ..., semantic: _Optional[_Union[SemanticParams, _Mapping]] = ...) -> None: ...

class DevTest(_message.Message):
    __slots__ = ("dev", "test")
    DEV_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    dev: float
    test: float
    def __init__(self, dev: _Optional[float] = ..., test: _Optional[float] = ...) -> None: ...

class Slm21Scores(_message.Message):
    __slots__ = ("lexical", "syntactic", "semantic")
    LEXICAL_FIELD_NUMBER: _ClassVar[int]
    SYNTACTIC_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_FIELD_NUMBER: _ClassVar[int]
    lexical: Slm21LexicalScores
    syntactic: DevTest
    semantic: Slm21SemanticScores
    def __init__(self, lexical: _Optional[_Union[Slm21LexicalScores, _Mapping]] = ..., syntactic: _Optional[_Union[DevTest, _Mapping]] = ..., semantic: _Optional[_Union[Slm21SemanticScores, _Mapping]] = ...) -> None: ...

class Slm21LexicalScores(_message.Message):
    __slots__ = ("in_vocab", "all")
    IN_VOCAB_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    in_vocab: DevTest
    all: DevTest
    def __init__(self, in_vocab: _Optional[_Union[DevTest, _Mapping]] = ..., all: _Optional[_Union[DevTest, _Mapping]] = ...) -> None: ...

class Slm21SemanticScores(_message.Message):
    __slots__ = ("normal", "weighted")
    NORMAL_FIELD_NUMBER: _ClassVar[int]
    WEIGHTED_FIELD_NUMBER: _ClassVar[int]
    normal: SemanticTypeScores
    weighted: SemanticTypeScores
    def __init__(self, normal: _Optional[_Union[SemanticTypeScores, _Mapping]] = ..., weighted: _Optional[_Union[SemanticTypeScores, _Mapping]] = ...) -> None: ...

class SemanticTypeScores(_message.Message):
    __slots__ = ("synthetic", "librispeech")
    SYNTHETIC_FIELD_NUMBER: _ClassVar[int]
    LIBRISPEECH_FIELD_NUMBER: _ClassVar[int]
    synthetic: DevTest
    librispeech: DevTest
    def __init__(self, synthetic: _Optional[_Union[DevTest, _Mapping]] = ..., librispeech: _Optional[_Union[DevTest, _Mapping]] = ...) -> None: ...

class ProsAuditScores(_message.Message):
    __slots__ = ("protosyntax", "lexical")
    PROTOSYNTAX_FIELD_NUMBER: _ClassVar[int]
    LEXICAL_FIELD_NUMBER: _ClassVar[int]
    protosyntax: ProsAuditTypeScores
    lexical: ProsAuditTypeScores
    def __init__(self, protosyntax: _Optional[_Union[ProsAuditTypeScores, _Mapping]] = ..., lexical: _Optional[_Union[ProsAuditTypeScores, _Mapping]] = ...) -> None: ...

class ProsAuditTypeScores(_message.Message):
    __slots__ = ("dev", "test")
    DEV_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    dev: ProsAuditScore
    test: ProsAuditScore
    def __init__(self, dev: _Optional[_Union[ProsAuditScore, _Mapping]] = ..., test: _Optional[_Union[ProsAuditScore, _Mapping]] = ...) -> None: ...

class ProsAuditScore(_message.Message):
    __slots__ = ("score", "n", "std")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    score: float
    n: int
    std: float
    def __init__(self, score: _Optional[float] = ..., n: _Optional[int] = ..., std: _Optional[float] = ...) -> None: ...

class Slm21Extras(_message.Message):
    __slots__ = ("lexical", "syntactic", "semantic")
    LEXICAL_FIELD_NUMBER: _ClassVar[int]
    SYNTACTIC_FIELD_NUMBER: _ClassVar[int]
    SEMANTIC_FIELD_NUMBER: _ClassVar[int]
    lexical: Slm21LexicalExtras
    syntactic: _containers.RepeatedCompositeFieldContainer[ExtrasRow]
    semantic: _containers.RepeatedCompositeFieldContainer[SemanticExtra]
    def __init__(self, lexical: _Optional[_Union[Slm21LexicalExtras, _Mapping]] = ..., syntactic: _Optional[_Iterable[_Union[ExtrasRow, _Mapping]]] = ..., semantic: _Optional[_Iterable[_Union[SemanticExtra, _Mapping]]] = ...) -> None: ...

class Slm21LexicalExtras(_message.Message):
    __slots__ = ("by_length", "by_frequency")
    BY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    BY_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    by_length: _containers.RepeatedCompositeFieldContainer[ExtrasRow]
    by_frequency: _containers.RepeatedCompositeFieldContainer[ExtrasRow]
    def __init__(self, by_length: _Optional[_Iterable[_Union[ExtrasRow, _Mapping]]] = ..., by_frequency: _Optional[_Iterable[_Union[ExtrasRow, _Mapping]]] = ...) -> None: ...

class ExtrasRow(_message.Message):
    __slots__ = ("key", "dev_score", "dev_std", "dev_n", "test_score", "test_std", "test_n")
    KEY_FIELD_NUMBER: _ClassVar[int]
    DEV_SCORE_FIELD_NUMBER: _ClassVar[int]
    DEV_STD_FIELD_NUMBER: _ClassVar[int]
    DEV_N_FIELD_NUMBER: _ClassVar[int]
    TEST_SCORE_FIELD_NUMBER: _ClassVar[int]
    TEST_STD_FIELD_NUMBER: _ClassVar[int]
    TEST_N_FIELD_NUMBER: _ClassVar[int]
    key: Value
    dev_score: float
    dev_std: float
    dev_n: float
    test_score: float
    test_std: float
    test_n: float
    def __init__(self, key: _Optional[_Union[Value, _Mapping]] = ..., dev_score: _Optional[float] = ..., dev_std: _Optional[float] = ..., dev_n: _Optional[float] = ..., test_score: _Optional[float] = ..., test_std: _Optional[float] = ..., test_n: _Optional[float] = ...) -> None: ...

class SemanticExtra(_message.Message):
    __slots__ = ("set", "dataset", "librispeech", "synthetic")
    SET_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    LIBRISPEECH_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_FIELD_NUMBER: _ClassVar[int]
    set: str
    dataset: str
    librispeech: float
    synthetic: float
    def __init__(self, set: _Optional[str] = ..., dataset: _Optional[str] = ..., librispeech: _Optional[float] = ..., synthetic: _Optional[float] = ...) -> None: ...

class PublishedEntry(_message.Message):
    __slots__ = ("entry_id", "job_id", "owner", "baseline", "scorer_version", "submission_digest", "dataset", "published_at", "intervals")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    SCORER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_DIGEST_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    job_id: str
    owner: str
    baseline: bool
    scorer_version: str
    submission_digest: str
    dataset: str
    published_at: _timestamp_pb2.Timestamp
    intervals: _containers.RepeatedCompositeFieldContainer[PublishedInterval]
    def __init__(self, entry_id: _Optional[str] = ..., job_id: _Optional[str] = ..., owner: _Optional[str] = ..., baseline: _Optional[bool] = ..., scorer_version: _Optional[str] = ..., submission_digest: _Optional[str] = ..., dataset: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., intervals: _Optional[_Iterable[_Union[PublishedInterval, _Mapping]]] = ...) -> None: ...

class PublishedInterval(_message.Message):
    __slots__ = ("task", "set", "metric", "estimate", "ci_low", "ci_high", "n_units", "resamples")
    TASK_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    N_UNITS_FIELD_NUMBER: _ClassVar[int]
    RESAMPLES_FIELD_NUMBER: _ClassVar[int]
    task: str
    set: str
    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    n_units: int
    resamples: int
    def __init__(self, task: _Optional[str] = ..., set: _Optional[str] = ..., metric: _Optional[str] = ..., estimate: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., n_units: _Optional[int] = ..., resamples: _Optional[int] = ...) -> None: ...
