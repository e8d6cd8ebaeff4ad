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
