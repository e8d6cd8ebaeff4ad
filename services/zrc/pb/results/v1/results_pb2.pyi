import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from zrc.pb.common.v1 import common_pb2 as _common_pb2
from zrc.pb.validation.v1 import validation_pb2 as _validation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobRecordState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_RECORD_STATE_UNSPECIFIED: _ClassVar[JobRecordState]
    JOB_RECORD_STATE_QUEUED: _ClassVar[JobRecordState]
    JOB_RECORD_STATE_VALIDATING: _ClassVar[JobRecordState]
    JOB_RECORD_STATE_SCORING: _ClassVar[JobRecordState]
    JOB_RECORD_STATE_SUCCEEDED: _ClassVar[JobRecordState]
    JOB_RECORD_STATE_INVALID: _ClassVar[JobRecordState]
    JOB_RECORD_STATE_FAILED: _ClassVar[JobRecordState]
JOB_RECORD_STATE_UNSPECIFIED: JobRecordState
JOB_RECORD_STATE_QUEUED: JobRecordState
JOB_RECORD_STATE_VALIDATING: JobRecordState
JOB_RECORD_STATE_SCORING: JobRecordState
JOB_RECORD_STATE_SUCCEEDED: JobRecordState
JOB_RECORD_STATE_INVALID: JobRecordState
JOB_RECORD_STATE_FAILED: JobRecordState

class TaskResult(_message.Message):
    __slots__ = ("key", "task", "set", "files", "scorer_version", "summary", "validation")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SCORER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    key: str
    task: str
    set: str
    files: _containers.RepeatedCompositeFieldContainer[_common_pb2.File]
    scorer_version: str
    summary: _common_pb2.ScoreSummary
    validation: _validation_pb2.ValidateResponse
    def __init__(self, key: _Optional[str] = ..., task: _Optional[str] = ..., set: _Optional[str] = ..., files: _Optional[_Iterable[_Union[_common_pb2.File, _Mapping]]] = ..., scorer_version: _Optional[str] = ..., summary: _Optional[_Union[_common_pb2.ScoreSummary, _Mapping]] = ..., validation: _Optional[_Union[_validation_pb2.ValidateResponse, _Mapping]] = ...) -> None: ...

class GetResultRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class GetResultResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: TaskResult
    def __init__(self, result: _Optional[_Union[TaskResult, _Mapping]] = ...) -> None: ...

class PutResultRequest(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: TaskResult
    def __init__(self, result: _Optional[_Union[TaskResult, _Mapping]] = ...) -> None: ...

class PutResultResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JobRecord(_message.Message):
    __slots__ = ("job_id", "selection", "skip_validation", "owner", "publish", "baseline", "model_id", "replaces_entry", "state", "findings", "failure_reason", "parts", "done", "events", "params", "meta", "dataset_digest", "lease_owner", "lease_expires", "attempts", "revision", "starts", "created_at", "updated_at", "findings_count", "events_count", "pooled_refs")
    class StartsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class PooledRefsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    SKIP_VALIDATION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    REPLACES_ENTRY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    DATASET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    LEASE_OWNER_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STARTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_COUNT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_COUNT_FIELD_NUMBER: _ClassVar[int]
    POOLED_REFS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    selection: _common_pb2.Selection
    skip_validation: bool
    owner: str
    publish: bool
    baseline: bool
    model_id: str
    replaces_entry: str
    state: JobRecordState
    findings: _containers.RepeatedCompositeFieldContainer[_common_pb2.Finding]
    failure_reason: str
    parts: _containers.RepeatedCompositeFieldContainer[JobPart]
    done: _containers.RepeatedCompositeFieldContainer[JobPart]
    events: _containers.RepeatedCompositeFieldContainer[JobRecordEvent]
    params: _common_pb2.SubmissionParams
    meta: _common_pb2.SubmissionMeta
    dataset_digest: str
    lease_owner: str
    lease_expires: _timestamp_pb2.Timestamp
    attempts: int
    revision: int
    starts: _containers.ScalarMap[str, int]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    findings_count: int
    events_count: int
    pooled_refs: _containers.ScalarMap[str, str]
    def __init__(self, job_id: _Optional[str] = ..., selection: _Optional[_Union[_common_pb2.Selection, _Mapping]] = ..., skip_validation: _Optional[bool] = ..., owner: _Optional[str] = ..., publish: _Optional[bool] = ..., baseline: _Optional[bool] = ..., model_id: _Optional[str] = ..., replaces_entry: _Optional[str] = ..., state: _Optional[_Union[JobRecordState, str]] = ..., findings: _Optional[_Iterable[_Union[_common_pb2.Finding, _Mapping]]] = ..., failure_reason: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[JobPart, _Mapping]]] = ..., done: _Optional[_Iterable[_Union[JobPart, _Mapping]]] = ..., events: _Optional[_Iterable[_Union[JobRecordEvent, _Mapping]]] = ..., params: _Optional[_Union[_common_pb2.SubmissionParams, _Mapping]] = ..., meta: _Optional[_Union[_common_pb2.SubmissionMeta, _Mapping]] = ..., dataset_digest: _Optional[str] = ..., lease_owner: _Optional[str] = ..., lease_expires: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[int] = ..., revision: _Optional[int] = ..., starts: _Optional[_Mapping[str, int]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., findings_count: _Optional[int] = ..., events_count: _Optional[int] = ..., pooled_refs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class JobPart(_message.Message):
    __slots__ = ("task", "set", "result_key")
    TASK_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    RESULT_KEY_FIELD_NUMBER: _ClassVar[int]
    task: str
    set: str
    result_key: str
    def __init__(self, task: _Optional[str] = ..., set: _Optional[str] = ..., result_key: _Optional[str] = ...) -> None: ...

class JobRecordEvent(_message.Message):
    __slots__ = ("seq", "state", "message", "task", "set", "at")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    state: JobRecordState
    message: str
    task: str
    set: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, seq: _Optional[int] = ..., state: _Optional[_Union[JobRecordState, str]] = ..., message: _Optional[str] = ..., task: _Optional[str] = ..., set: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PutJobRequest(_message.Message):
    __slots__ = ("job", "conditional", "expected_revision")
    JOB_FIELD_NUMBER: _ClassVar[int]
    CONDITIONAL_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    job: JobRecord
    conditional: bool
    expected_revision: int
    def __init__(self, job: _Optional[_Union[JobRecord, _Mapping]] = ..., conditional: _Optional[bool] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class PutJobResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: JobRecord
    def __init__(self, job: _Optional[_Union[JobRecord, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("unfinished_only", "page_size", "page_token", "summaries")
    UNFINISHED_ONLY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    unfinished_only: bool
    page_size: int
    page_token: str
    summaries: bool
    def __init__(self, unfinished_only: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., summaries: _Optional[bool] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobRecord]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PutEntryRequest(_message.Message):
    __slots__ = ("job_id", "entry")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    entry: _common_pb2.LeaderboardEntry
    def __init__(self, job_id: _Optional[str] = ..., entry: _Optional[_Union[_common_pb2.LeaderboardEntry, _Mapping]] = ...) -> None: ...

class PutEntryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetEntryRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: _common_pb2.LeaderboardEntry
    def __init__(self, entry: _Optional[_Union[_common_pb2.LeaderboardEntry, _Mapping]] = ...) -> None: ...

class PublishEntryRequest(_message.Message):
    __slots__ = ("benchmark", "entry_id", "entry")
    BENCHMARK_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    benchmark: str
    entry_id: str
    entry: _common_pb2.LeaderboardEntry
    def __init__(self, benchmark: _Optional[str] = ..., entry_id: _Optional[str] = ..., entry: _Optional[_Union[_common_pb2.LeaderboardEntry, _Mapping]] = ...) -> None: ...

class PublishEntryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListLeaderboardRequest(_message.Message):
    __slots__ = ("benchmark",)
    BENCHMARK_FIELD_NUMBER: _ClassVar[int]
    benchmark: str
    def __init__(self, benchmark: _Optional[str] = ...) -> None: ...

class ListLeaderboardResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_common_pb2.LeaderboardEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[_common_pb2.LeaderboardEntry, _Mapping]]] = ...) -> None: ...
