from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
SUBSCRIBE_START_EARLIEST: SubscribeStart
SUBSCRIBE_START_NEW: SubscribeStart
SUBSCRIBE_START_UNSPECIFIED: SubscribeStart

class AcknowledgeEventsRequest(_message.Message):
    __slots__ = ["consumer_group", "event_ids"]
    CONSUMER_GROUP_FIELD_NUMBER: _ClassVar[int]
    EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    consumer_group: str
    event_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, consumer_group: _Optional[str] = ..., event_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AcknowledgeEventsResponse(_message.Message):
    __slots__ = ["acknowledged_count"]
    ACKNOWLEDGED_COUNT_FIELD_NUMBER: _ClassVar[int]
    acknowledged_count: int
    def __init__(self, acknowledged_count: _Optional[int] = ...) -> None: ...

class CreateWebhookRequest(_message.Message):
    __slots__ = ["webhook"]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    webhook: Webhook
    def __init__(self, webhook: _Optional[_Union[Webhook, _Mapping]] = ...) -> None: ...

class CreateWebhookResponse(_message.Message):
    __slots__ = ["secret", "webhook"]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    secret: str
    webhook: Webhook
    def __init__(self, webhook: _Optional[_Union[Webhook, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ["attempts", "dead_letter_id", "dead_letter_time", "event", "last_error", "last_status_code"]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_ID_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    attempts: int
    dead_letter_id: str
    dead_letter_time: _timestamp_pb2.Timestamp
    event: Event
    last_error: str
    last_status_code: int
    def __init__(self, dead_letter_id: _Optional[str] = ..., event: _Optional[_Union[Event, _Mapping]] = ..., attempts: _Optional[int] = ..., last_status_code: _Optional[int] = ..., last_error: _Optional[str] = ..., dead_letter_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeleteWebhookRequest(_message.Message):
    __slots__ = ["webhook_id"]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_id: str
    def __init__(self, webhook_id: _Optional[str] = ...) -> None: ...

class DeleteWebhookResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class Event(_message.Message):
    __slots__ = ["data_json", "id", "mailbox_id", "mailbox_state_changed", "mailbox_sync_failing", "mailbox_sync_recovered", "message_arrived", "message_removed", "occurred_at", "type"]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_STATE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_SYNC_FAILING_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_SYNC_RECOVERED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ARRIVED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_REMOVED_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    data_json: str
    id: str
    mailbox_id: str
    mailbox_state_changed: MailboxStateChangedData
    mailbox_sync_failing: MailboxSyncFailingData
    mailbox_sync_recovered: MailboxSyncRecoveredData
    message_arrived: MessageArrivedData
    message_removed: MessageRemovedData
    occurred_at: _timestamp_pb2.Timestamp
    type: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[str] = ..., mailbox_id: _Optional[str] = ..., occurred_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., data_json: _Optional[str] = ..., message_arrived: _Optional[_Union[MessageArrivedData, _Mapping]] = ..., message_removed: _Optional[_Union[MessageRemovedData, _Mapping]] = ..., mailbox_state_changed: _Optional[_Union[MailboxStateChangedData, _Mapping]] = ..., mailbox_sync_failing: _Optional[_Union[MailboxSyncFailingData, _Mapping]] = ..., mailbox_sync_recovered: _Optional[_Union[MailboxSyncRecoveredData, _Mapping]] = ...) -> None: ...

class EventEnvelope(_message.Message):
    __slots__ = ["date", "message_id", "subject", "to"]
    DATE_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    date: str
    message_id: str
    subject: str
    to: str
    def __init__(self, to: _Optional[str] = ..., subject: _Optional[str] = ..., date: _Optional[str] = ..., message_id: _Optional[str] = ..., **kwargs) -> None: ...

class GetWebhookRequest(_message.Message):
    __slots__ = ["webhook_id"]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_id: str
    def __init__(self, webhook_id: _Optional[str] = ...) -> None: ...

class GetWebhookResponse(_message.Message):
    __slots__ = ["webhook"]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    webhook: Webhook
    def __init__(self, webhook: _Optional[_Union[Webhook, _Mapping]] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ["page_size", "page_token", "webhook_id"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    webhook_id: str
    def __init__(self, webhook_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ["dead_letters", "next_page_token"]
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dead_letters: _containers.RepeatedCompositeFieldContainer[DeadLetter]
    next_page_token: str
    def __init__(self, dead_letters: _Optional[_Iterable[_Union[DeadLetter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListWebhooksRequest(_message.Message):
    __slots__ = ["page_size", "page_token"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhooksResponse(_message.Message):
    __slots__ = ["next_page_token", "webhooks"]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    webhooks: _containers.RepeatedCompositeFieldContainer[Webhook]
    def __init__(self, webhooks: _Optional[_Iterable[_Union[Webhook, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MailboxStateChangedData(_message.Message):
    __slots__ = ["previous_state", "reason", "state"]
    PREVIOUS_STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    previous_state: str
    reason: str
    state: str
    def __init__(self, state: _Optional[str] = ..., previous_state: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class MailboxSyncFailingData(_message.Message):
    __slots__ = ["consecutive_failures", "message", "reason"]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    consecutive_failures: int
    message: str
    reason: str
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ..., consecutive_failures: _Optional[int] = ...) -> None: ...

class MailboxSyncRecoveredData(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class MessageArrivedData(_message.Message):
    __slots__ = ["envelope", "size", "uid"]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    envelope: EventEnvelope
    size: int
    uid: str
    def __init__(self, uid: _Optional[str] = ..., size: _Optional[int] = ..., envelope: _Optional[_Union[EventEnvelope, _Mapping]] = ...) -> None: ...

class MessageRemovedData(_message.Message):
    __slots__ = ["uid"]
    UID_FIELD_NUMBER: _ClassVar[int]
    uid: str
    def __init__(self, uid: _Optional[str] = ...) -> None: ...

class RedeliverDeadLettersRequest(_message.Message):
    __slots__ = ["all", "dead_letter_ids", "webhook_id"]
    ALL_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_IDS_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    all: bool
    dead_letter_ids: _containers.RepeatedScalarFieldContainer[str]
    webhook_id: str
    def __init__(self, webhook_id: _Optional[str] = ..., dead_letter_ids: _Optional[_Iterable[str]] = ..., all: bool = ...) -> None: ...

class RedeliverDeadLettersResponse(_message.Message):
    __slots__ = ["redelivered_count"]
    REDELIVERED_COUNT_FIELD_NUMBER: _ClassVar[int]
    redelivered_count: int
    def __init__(self, redelivered_count: _Optional[int] = ...) -> None: ...

class RotateWebhookSecretRequest(_message.Message):
    __slots__ = ["webhook_id"]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_id: str
    def __init__(self, webhook_id: _Optional[str] = ...) -> None: ...

class RotateWebhookSecretResponse(_message.Message):
    __slots__ = ["secret", "webhook"]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    secret: str
    webhook: Webhook
    def __init__(self, webhook: _Optional[_Union[Webhook, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class SubscribeEventsRequest(_message.Message):
    __slots__ = ["consumer", "consumer_group", "event_types", "mailbox_ids", "start", "visibility_timeout"]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_GROUP_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_IDS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    consumer: str
    consumer_group: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    mailbox_ids: _containers.RepeatedScalarFieldContainer[str]
    start: SubscribeStart
    visibility_timeout: _duration_pb2.Duration
    def __init__(self, consumer_group: _Optional[str] = ..., consumer: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., mailbox_ids: _Optional[_Iterable[str]] = ..., start: _Optional[_Union[SubscribeStart, str]] = ..., visibility_timeout: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SubscribeEventsResponse(_message.Message):
    __slots__ = ["event", "redelivered"]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    REDELIVERED_FIELD_NUMBER: _ClassVar[int]
    event: Event
    redelivered: bool
    def __init__(self, event: _Optional[_Union[Event, _Mapping]] = ..., redelivered: bool = ...) -> None: ...

class UpdateWebhookRequest(_message.Message):
    __slots__ = ["update_mask", "webhook"]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    update_mask: _field_mask_pb2.FieldMask
    webhook: Webhook
    def __init__(self, webhook: _Optional[_Union[Webhook, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateWebhookResponse(_message.Message):
    __slots__ = ["webhook"]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    webhook: Webhook
    def __init__(self, webhook: _Optional[_Union[Webhook, _Mapping]] = ...) -> None: ...

class Webhook(_message.Message):
    __slots__ = ["create_time", "description", "enabled", "event_types", "secret_rotate_time", "update_time", "url", "webhook_id"]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    SECRET_ROTATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    create_time: _timestamp_pb2.Timestamp
    description: str
    enabled: bool
    event_types: _containers.RepeatedScalarFieldContainer[str]
    secret_rotate_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    url: str
    webhook_id: str
    def __init__(self, webhook_id: _Optional[str] = ..., url: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., enabled: bool = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., secret_rotate_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SubscribeStart(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
