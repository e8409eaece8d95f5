from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetSecretRequest(_message.Message):
    __slots__ = ("ID", "annotations")
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    ID: str
    annotations: _containers.ScalarMap[str, str]
    def __init__(self, ID: _Optional[str] = ..., annotations: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetSecretResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class CheckAgentRequest(_message.Message):
    __slots__ = ("ID",)
    ID_FIELD_NUMBER: _ClassVar[int]
    ID: str
    def __init__(self, ID: _Optional[str] = ...) -> None: ...

class CheckAgentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BytesMessage(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class CredentialsRequest(_message.Message):
    __slots__ = ("Host",)
    HOST_FIELD_NUMBER: _ClassVar[int]
    Host: str
    def __init__(self, Host: _Optional[str] = ...) -> None: ...

class CredentialsResponse(_message.Message):
    __slots__ = ("Username", "Secret")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    Username: str
    Secret: str
    def __init__(self, Username: _Optional[str] = ..., Secret: _Optional[str] = ...) -> None: ...
