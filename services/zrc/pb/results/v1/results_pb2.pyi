from zrc.pb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskResult(_message.Message):
    __slots__ = ("key", "task", "set", "files", "summary_json", "scorer_version")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_JSON_FIELD_NUMBER: _ClassVar[int]
    SCORER_VERSION_FIELD_NUMBER: _ClassVar[int]
    key: str
    task: str
    set: str
    files: _containers.RepeatedCompositeFieldContainer[_common_pb2.File]
    summary_json: str
    scorer_version: str
    def __init__(self, key: _Optional[str] = ..., task: _Optional[str] = ..., set: _Optional[str] = ..., files: _Optional[_Iterable[_Union[_common_pb2.File, _Mapping]]] = ..., summary_json: _Optional[str] = ..., scorer_version: _Optional[str] = ...) -> None: ...

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

class PutJobRequest(_message.Message):
    __slots__ = ("job_json", "conditional", "expected_revision")
    JOB_JSON_FIELD_NUMBER: _ClassVar[int]
    CONDITIONAL_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    job_json: str
    conditional: bool
    expected_revision: int
    def __init__(self, job_json: _Optional[str] = ..., conditional: _Optional[bool] = ..., expected_revision: _Optional[int] = ...) -> None: ...

class PutJobResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job_json",)
    JOB_JSON_FIELD_NUMBER: _ClassVar[int]
    job_json: str
    def __init__(self, job_json: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("job_json", "next_page_token")
    JOB_JSON_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_json: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    def __init__(self, job_json: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PutEntryRequest(_message.Message):
    __slots__ = ("job_id", "entry_json")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_JSON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    entry_json: str
    def __init__(self, job_id: _Optional[str] = ..., entry_json: _Optional[str] = ...) -> None: ...

class PutEntryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetEntryRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetEntryResponse(_message.Message):
    __slots__ = ("entry_json",)
    ENTRY_JSON_FIELD_NUMBER: _ClassVar[int]
    entry_json: str
    def __init__(self, entry_json: _Optional[str] = ...) -> None: ...

class PublishEntryRequest(_message.Message):
    __slots__ = ("benchmark", "entry_id", "entry_json")
    BENCHMARK_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_JSON_FIELD_NUMBER: _ClassVar[int]
    benchmark: str
    entry_id: str
    entry_json: str
    def __init__(self, benchmark: _Optional[str] = ..., entry_id: _Optional[str] = ..., entry_json: _Optional[str] = ...) -> None: ...

class PublishEntryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListLeaderboardRequest(_message.Message):
    __slots__ = ("benchmark",)
    BENCHMARK_FIELD_NUMBER: _ClassVar[int]
    benchmark: str
    def __init__(self, benchmark: _Optional[str] = ...) -> None: ...

class ListLeaderboardResponse(_message.Message):
    __slots__ = ("entries_json",)
    ENTRIES_JSON_FIELD_NUMBER: _ClassVar[int]
    entries_json: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, entries_json: _Optional[_Iterable[str]] = ...) -> None: ...
