from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from mailgrpc.v1 import mailbox_pb2 as _mailbox_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
DIAGNOSTIC_OUTCOME_FAILED: DiagnosticOutcome
DIAGNOSTIC_OUTCOME_OK: DiagnosticOutcome
DIAGNOSTIC_OUTCOME_SKIPPED: DiagnosticOutcome
DIAGNOSTIC_OUTCOME_UNSPECIFIED: DiagnosticOutcome
DIAGNOSTIC_OUTCOME_WARNING: DiagnosticOutcome
DIAGNOSTIC_STEP_KIND_AUTH: DiagnosticStepKind
DIAGNOSTIC_STEP_KIND_CAPA: DiagnosticStepKind
DIAGNOSTIC_STEP_KIND_DNS: DiagnosticStepKind
DIAGNOSTIC_STEP_KIND_STAT: DiagnosticStepKind
DIAGNOSTIC_STEP_KIND_TCP: DiagnosticStepKind
DIAGNOSTIC_STEP_KIND_TLS: DiagnosticStepKind
DIAGNOSTIC_STEP_KIND_TOKEN: DiagnosticStepKind
DIAGNOSTIC_STEP_KIND_UNSPECIFIED: DiagnosticStepKind

class CreateMailboxRequest(_message.Message):
    __slots__ = ["mailbox", "mailbox_id"]
    MAILBOX_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    mailbox: _mailbox_pb2.Mailbox
    mailbox_id: str
    def __init__(self, mailbox: _Optional[_Union[_mailbox_pb2.Mailbox, _Mapping]] = ..., mailbox_id: _Optional[str] = ...) -> None: ...

class CreateMailboxResponse(_message.Message):
    __slots__ = ["mailbox"]
    MAILBOX_FIELD_NUMBER: _ClassVar[int]
    mailbox: _mailbox_pb2.Mailbox
    def __init__(self, mailbox: _Optional[_Union[_mailbox_pb2.Mailbox, _Mapping]] = ...) -> None: ...

class DeleteMailboxRequest(_message.Message):
    __slots__ = ["etag", "mailbox_id"]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    etag: str
    mailbox_id: str
    def __init__(self, mailbox_id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteMailboxResponse(_message.Message):
    __slots__ = ["revoked_at_provider"]
    REVOKED_AT_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    revoked_at_provider: bool
    def __init__(self, revoked_at_provider: bool = ...) -> None: ...

class DiagnoseMailboxRequest(_message.Message):
    __slots__ = ["mailbox_id"]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: str
    def __init__(self, mailbox_id: _Optional[str] = ...) -> None: ...

class DiagnoseMailboxResponse(_message.Message):
    __slots__ = ["healthy", "steps"]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    healthy: bool
    steps: _containers.RepeatedCompositeFieldContainer[DiagnosticStep]
    def __init__(self, steps: _Optional[_Iterable[_Union[DiagnosticStep, _Mapping]]] = ..., healthy: bool = ...) -> None: ...

class DiagnosticStep(_message.Message):
    __slots__ = ["detail", "duration", "hint", "kind", "outcome", "reason"]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    detail: str
    duration: _duration_pb2.Duration
    hint: str
    kind: DiagnosticStepKind
    outcome: DiagnosticOutcome
    reason: str
    def __init__(self, kind: _Optional[_Union[DiagnosticStepKind, str]] = ..., outcome: _Optional[_Union[DiagnosticOutcome, str]] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ..., hint: _Optional[str] = ..., duration: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetMailboxRequest(_message.Message):
    __slots__ = ["mailbox_id"]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: str
    def __init__(self, mailbox_id: _Optional[str] = ...) -> None: ...

class GetMailboxResponse(_message.Message):
    __slots__ = ["mailbox"]
    MAILBOX_FIELD_NUMBER: _ClassVar[int]
    mailbox: _mailbox_pb2.Mailbox
    def __init__(self, mailbox: _Optional[_Union[_mailbox_pb2.Mailbox, _Mapping]] = ...) -> None: ...

class ListMailboxesRequest(_message.Message):
    __slots__ = ["page_size", "page_token"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMailboxesResponse(_message.Message):
    __slots__ = ["mailboxes", "next_page_token"]
    MAILBOXES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    mailboxes: _containers.RepeatedCompositeFieldContainer[_mailbox_pb2.Mailbox]
    next_page_token: str
    def __init__(self, mailboxes: _Optional[_Iterable[_Union[_mailbox_pb2.Mailbox, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateMailboxRequest(_message.Message):
    __slots__ = ["mailbox", "update_mask"]
    MAILBOX_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    mailbox: _mailbox_pb2.Mailbox
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, mailbox: _Optional[_Union[_mailbox_pb2.Mailbox, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateMailboxResponse(_message.Message):
    __slots__ = ["mailbox"]
    MAILBOX_FIELD_NUMBER: _ClassVar[int]
    mailbox: _mailbox_pb2.Mailbox
    def __init__(self, mailbox: _Optional[_Union[_mailbox_pb2.Mailbox, _Mapping]] = ...) -> None: ...

class DiagnosticStepKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class DiagnosticOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
