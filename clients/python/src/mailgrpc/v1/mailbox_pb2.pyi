from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
MAILBOX_STATE_ACTIVE: MailboxState
MAILBOX_STATE_DISABLED: MailboxState
MAILBOX_STATE_PENDING_AUTHORIZATION: MailboxState
MAILBOX_STATE_REAUTHORIZATION_REQUIRED: MailboxState
MAILBOX_STATE_UNSPECIFIED: MailboxState
PROVIDER_GENERIC: Provider
PROVIDER_GOOGLE: Provider
PROVIDER_MICROSOFT: Provider
PROVIDER_UNSPECIFIED: Provider
RETENTION_MODE_DELETE_WHEN_ACKNOWLEDGED: RetentionMode
RETENTION_MODE_KEEP: RetentionMode
RETENTION_MODE_UNSPECIFIED: RetentionMode
SASL_MECHANISM_OAUTHBEARER: SaslMechanism
SASL_MECHANISM_UNSPECIFIED: SaslMechanism
SASL_MECHANISM_XOAUTH2: SaslMechanism
SECURITY_IMPLICIT_TLS: Security
SECURITY_NONE: Security
SECURITY_STARTTLS: Security
SECURITY_UNSPECIFIED: Security

class AuthMethod(_message.Message):
    __slots__ = ["oauth", "password"]
    OAUTH_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    oauth: OAuthAuth
    password: PasswordAuth
    def __init__(self, oauth: _Optional[_Union[OAuthAuth, _Mapping]] = ..., password: _Optional[_Union[PasswordAuth, _Mapping]] = ...) -> None: ...

class Mailbox(_message.Message):
    __slots__ = ["auth_method", "create_time", "display_name", "etag", "last_error_message", "last_error_reason", "mailbox_id", "provider", "retention", "server", "state", "sync", "update_time", "username"]
    AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_REASON_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    auth_method: AuthMethod
    create_time: _timestamp_pb2.Timestamp
    display_name: str
    etag: str
    last_error_message: str
    last_error_reason: str
    mailbox_id: str
    provider: Provider
    retention: RetentionPolicy
    server: ServerSettings
    state: MailboxState
    sync: SyncSettings
    update_time: _timestamp_pb2.Timestamp
    username: str
    def __init__(self, mailbox_id: _Optional[str] = ..., username: _Optional[str] = ..., display_name: _Optional[str] = ..., provider: _Optional[_Union[Provider, str]] = ..., server: _Optional[_Union[ServerSettings, _Mapping]] = ..., auth_method: _Optional[_Union[AuthMethod, _Mapping]] = ..., state: _Optional[_Union[MailboxState, str]] = ..., last_error_reason: _Optional[str] = ..., last_error_message: _Optional[str] = ..., create_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., sync: _Optional[_Union[SyncSettings, _Mapping]] = ..., retention: _Optional[_Union[RetentionPolicy, _Mapping]] = ...) -> None: ...

class OAuthAuth(_message.Message):
    __slots__ = ["client", "mechanism"]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    MECHANISM_FIELD_NUMBER: _ClassVar[int]
    client: str
    mechanism: SaslMechanism
    def __init__(self, client: _Optional[str] = ..., mechanism: _Optional[_Union[SaslMechanism, str]] = ...) -> None: ...

class PasswordAuth(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class RetentionPolicy(_message.Message):
    __slots__ = ["delete_after", "mode", "required_consumers"]
    DELETE_AFTER_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    delete_after: _duration_pb2.Duration
    mode: RetentionMode
    required_consumers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, mode: _Optional[_Union[RetentionMode, str]] = ..., required_consumers: _Optional[_Iterable[str]] = ..., delete_after: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ServerSettings(_message.Message):
    __slots__ = ["host", "port", "security"]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    host: str
    port: int
    security: Security
    def __init__(self, host: _Optional[str] = ..., port: _Optional[int] = ..., security: _Optional[_Union[Security, str]] = ...) -> None: ...

class SyncSettings(_message.Message):
    __slots__ = ["enabled", "interval"]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    interval: _duration_pb2.Duration
    def __init__(self, enabled: bool = ..., interval: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RetentionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Security(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Provider(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class MailboxState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class SaslMechanism(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
