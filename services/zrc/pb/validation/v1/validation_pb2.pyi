from zrc.pb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ValidateRequest(_message.Message):
    __slots__ = ("selection",)
    SELECTION_FIELD_NUMBER: _ClassVar[int]
    selection: _common_pb2.Selection
    def __init__(self, selection: _Optional[_Union[_common_pb2.Selection, _Mapping]] = ...) -> None: ...

class ValidateResponse(_message.Message):
    __slots__ = ("ok", "findings", "dataset_digest", "pooled", "params", "meta")
    OK_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    DATASET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    POOLED_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    findings: _containers.RepeatedCompositeFieldContainer[_common_pb2.Finding]
    dataset_digest: str
    pooled: _containers.RepeatedCompositeFieldContainer[PooledRef]
    params: _common_pb2.SubmissionParams
    meta: _common_pb2.SubmissionMeta
    def __init__(self, ok: _Optional[bool] = ..., findings: _Optional[_Iterable[_Union[_common_pb2.Finding, _Mapping]]] = ..., dataset_digest: _Optional[str] = ..., pooled: _Optional[_Iterable[_Union[PooledRef, _Mapping]]] = ..., params: _Optional[_Union[_common_pb2.SubmissionParams, _Mapping]] = ..., meta: _Optional[_Union[_common_pb2.SubmissionMeta, _Mapping]] = ...) -> None: ...

class PooledRef(_message.Message):
    __slots__ = ("task", "set", "ref")
    TASK_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    task: str
    set: str
    ref: str
    def __init__(self, task: _Optional[str] = ..., set: _Optional[str] = ..., ref: _Optional[str] = ...) -> None: ...
