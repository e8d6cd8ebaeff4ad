from zrc.pb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScoreRequest(_message.Message):
    __slots__ = ("selection", "skip_validation", "result_key", "params", "pooled_ref")
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    SKIP_VALIDATION_FIELD_NUMBER: _ClassVar[int]
    RESULT_KEY_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    POOLED_REF_FIELD_NUMBER: _ClassVar[int]
    selection: _common_pb2.Selection
    skip_validation: bool
    result_key: str
    params: _common_pb2.SubmissionParams
    pooled_ref: str
    def __init__(self, selection: _Optional[_Union[_common_pb2.Selection, _Mapping]] = ..., skip_validation: _Optional[bool] = ..., result_key: _Optional[str] = ..., params: _Optional[_Union[_common_pb2.SubmissionParams, _Mapping]] = ..., pooled_ref: _Optional[str] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("files", "scorer_version", "stored", "summary")
    FILES_FIELD_NUMBER: _ClassVar[int]
    SCORER_VERSION_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[_common_pb2.File]
    scorer_version: str
    stored: bool
    summary: _common_pb2.ScoreSummary
    def __init__(self, files: _Optional[_Iterable[_Union[_common_pb2.File, _Mapping]]] = ..., scorer_version: _Optional[str] = ..., stored: _Optional[bool] = ..., summary: _Optional[_Union[_common_pb2.ScoreSummary, _Mapping]] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("scorer_version",)
    SCORER_VERSION_FIELD_NUMBER: _ClassVar[int]
    scorer_version: str
    def __init__(self, scorer_version: _Optional[str] = ...) -> None: ...
