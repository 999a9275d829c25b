from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
MESSAGE_VIEW_FULL: MessageView
MESSAGE_VIEW_HEADERS: MessageView
MESSAGE_VIEW_UNSPECIFIED: MessageView

class AcknowledgeMessagesRequest(_message.Message):
    __slots__ = ["consumer", "delete", "mailbox_id", "uids"]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    UIDS_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    delete: bool
    mailbox_id: str
    uids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, mailbox_id: _Optional[str] = ..., consumer: _Optional[str] = ..., uids: _Optional[_Iterable[str]] = ..., delete: bool = ...) -> None: ...

class AcknowledgeMessagesResponse(_message.Message):
    __slots__ = ["acknowledged_uids", "deleted_uids", "missing_uids"]
    ACKNOWLEDGED_UIDS_FIELD_NUMBER: _ClassVar[int]
    DELETED_UIDS_FIELD_NUMBER: _ClassVar[int]
    MISSING_UIDS_FIELD_NUMBER: _ClassVar[int]
    acknowledged_uids: _containers.RepeatedScalarFieldContainer[str]
    deleted_uids: _containers.RepeatedScalarFieldContainer[str]
    missing_uids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, acknowledged_uids: _Optional[_Iterable[str]] = ..., deleted_uids: _Optional[_Iterable[str]] = ..., missing_uids: _Optional[_Iterable[str]] = ...) -> None: ...

class Address(_message.Message):
    __slots__ = ["address", "name"]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    address: str
    name: str
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ["content_type", "file_name", "size"]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    file_name: str
    size: int
    def __init__(self, file_name: _Optional[str] = ..., content_type: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class DeleteConsumerRequest(_message.Message):
    __slots__ = ["consumer", "mailbox_id"]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    mailbox_id: str
    def __init__(self, mailbox_id: _Optional[str] = ..., consumer: _Optional[str] = ...) -> None: ...

class DeleteConsumerResponse(_message.Message):
    __slots__ = ["forgotten"]
    FORGOTTEN_FIELD_NUMBER: _ClassVar[int]
    forgotten: bool
    def __init__(self, forgotten: bool = ...) -> None: ...

class DeleteMessagesRequest(_message.Message):
    __slots__ = ["mailbox_id", "uids"]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    UIDS_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: str
    uids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, mailbox_id: _Optional[str] = ..., uids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteMessagesResponse(_message.Message):
    __slots__ = ["deleted_uids", "missing_uids"]
    DELETED_UIDS_FIELD_NUMBER: _ClassVar[int]
    MISSING_UIDS_FIELD_NUMBER: _ClassVar[int]
    deleted_uids: _containers.RepeatedScalarFieldContainer[str]
    missing_uids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted_uids: _Optional[_Iterable[str]] = ..., missing_uids: _Optional[_Iterable[str]] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ["attachments", "cc", "date", "in_reply_to", "message_id", "reply_to", "subject", "to"]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    CC_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    IN_REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    cc: _containers.RepeatedCompositeFieldContainer[Address]
    date: _timestamp_pb2.Timestamp
    in_reply_to: str
    message_id: str
    reply_to: _containers.RepeatedCompositeFieldContainer[Address]
    subject: str
    to: _containers.RepeatedCompositeFieldContainer[Address]
    def __init__(self, subject: _Optional[str] = ..., to: _Optional[_Iterable[_Union[Address, _Mapping]]] = ..., cc: _Optional[_Iterable[_Union[Address, _Mapping]]] = ..., reply_to: _Optional[_Iterable[_Union[Address, _Mapping]]] = ..., date: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., message_id: _Optional[str] = ..., in_reply_to: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., **kwargs) -> None: ...

class GetMessageRequest(_message.Message):
    __slots__ = ["mailbox_id", "uid", "view"]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: str
    uid: str
    view: MessageView
    def __init__(self, mailbox_id: _Optional[str] = ..., uid: _Optional[str] = ..., view: _Optional[_Union[MessageView, str]] = ...) -> None: ...

class GetMessageResponse(_message.Message):
    __slots__ = ["frame"]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    frame: MessageFrame
    def __init__(self, frame: _Optional[_Union[MessageFrame, _Mapping]] = ...) -> None: ...

class ListMessagesRequest(_message.Message):
    __slots__ = ["consumer", "include_headers", "mailbox_id", "page_size", "page_token"]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_HEADERS_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    include_headers: bool
    mailbox_id: str
    page_size: int
    page_token: str
    def __init__(self, mailbox_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_headers: bool = ..., consumer: _Optional[str] = ...) -> None: ...

class ListMessagesResponse(_message.Message):
    __slots__ = ["messages", "next_page_token", "total_count", "total_size"]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[MessageInfo]
    next_page_token: str
    total_count: int
    total_size: int
    def __init__(self, messages: _Optional[_Iterable[_Union[MessageInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ..., total_size: _Optional[int] = ...) -> None: ...

class MessageChunk(_message.Message):
    __slots__ = ["data", "offset"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: int
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[int] = ...) -> None: ...

class MessageEnd(_message.Message):
    __slots__ = ["sha256", "size", "uid"]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size: int
    uid: str
    def __init__(self, uid: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class MessageFrame(_message.Message):
    __slots__ = ["chunk", "end", "skipped", "summary"]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    chunk: MessageChunk
    end: MessageEnd
    skipped: MessageSkipped
    summary: MessageSummary
    def __init__(self, summary: _Optional[_Union[MessageSummary, _Mapping]] = ..., chunk: _Optional[_Union[MessageChunk, _Mapping]] = ..., end: _Optional[_Union[MessageEnd, _Mapping]] = ..., skipped: _Optional[_Union[MessageSkipped, _Mapping]] = ...) -> None: ...

class MessageInfo(_message.Message):
    __slots__ = ["acknowledged", "envelope", "size", "uid"]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    acknowledged: bool
    envelope: Envelope
    size: int
    uid: str
    def __init__(self, uid: _Optional[str] = ..., size: _Optional[int] = ..., envelope: _Optional[_Union[Envelope, _Mapping]] = ..., acknowledged: bool = ...) -> None: ...

class MessageSkipped(_message.Message):
    __slots__ = ["reason", "uid"]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    reason: str
    uid: str
    def __init__(self, uid: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class MessageSummary(_message.Message):
    __slots__ = ["envelope", "size", "uid"]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    envelope: Envelope
    size: int
    uid: str
    def __init__(self, uid: _Optional[str] = ..., size: _Optional[int] = ..., envelope: _Optional[_Union[Envelope, _Mapping]] = ...) -> None: ...

class StreamMessagesRequest(_message.Message):
    __slots__ = ["consumer", "mailbox_id", "max_bytes", "max_messages", "only_unacknowledged", "uids", "view"]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ONLY_UNACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    UIDS_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    mailbox_id: str
    max_bytes: int
    max_messages: int
    only_unacknowledged: bool
    uids: _containers.RepeatedScalarFieldContainer[str]
    view: MessageView
    def __init__(self, mailbox_id: _Optional[str] = ..., consumer: _Optional[str] = ..., only_unacknowledged: bool = ..., view: _Optional[_Union[MessageView, str]] = ..., max_messages: _Optional[int] = ..., max_bytes: _Optional[int] = ..., uids: _Optional[_Iterable[str]] = ...) -> None: ...

class StreamMessagesResponse(_message.Message):
    __slots__ = ["frame"]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    frame: MessageFrame
    def __init__(self, frame: _Optional[_Union[MessageFrame, _Mapping]] = ...) -> None: ...

class WatchMessagesRequest(_message.Message):
    __slots__ = ["consumer", "include_existing", "mailbox_id", "view"]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EXISTING_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    include_existing: bool
    mailbox_id: str
    view: MessageView
    def __init__(self, mailbox_id: _Optional[str] = ..., consumer: _Optional[str] = ..., view: _Optional[_Union[MessageView, str]] = ..., include_existing: bool = ...) -> None: ...

class WatchMessagesResponse(_message.Message):
    __slots__ = ["frame"]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    frame: MessageFrame
    def __init__(self, frame: _Optional[_Union[MessageFrame, _Mapping]] = ...) -> None: ...

class MessageView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
