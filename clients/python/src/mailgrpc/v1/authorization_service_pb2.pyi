from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mailgrpc.v1 import mailbox_pb2 as _mailbox_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

CREDENTIAL_KIND_APP_ONLY: CredentialKind
CREDENTIAL_KIND_DELEGATED: CredentialKind
CREDENTIAL_KIND_PASSWORD: CredentialKind
CREDENTIAL_KIND_UNSPECIFIED: CredentialKind
DESCRIPTOR: _descriptor.FileDescriptor

class AuthorizationStatus(_message.Message):
    __slots__ = ["access_end_time", "access_token_expire_time", "account", "credential_kind", "granted_scopes", "has_refresh_token", "last_error_message", "last_error_reason", "last_refresh_time", "mailbox_id", "state"]
    ACCESS_END_TIME_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_KIND_FIELD_NUMBER: _ClassVar[int]
    GRANTED_SCOPES_FIELD_NUMBER: _ClassVar[int]
    HAS_REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_REASON_FIELD_NUMBER: _ClassVar[int]
    LAST_REFRESH_TIME_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    access_end_time: _timestamp_pb2.Timestamp
    access_token_expire_time: _timestamp_pb2.Timestamp
    account: str
    credential_kind: CredentialKind
    granted_scopes: _containers.RepeatedScalarFieldContainer[str]
    has_refresh_token: bool
    last_error_message: str
    last_error_reason: str
    last_refresh_time: _timestamp_pb2.Timestamp
    mailbox_id: str
    state: _mailbox_pb2.MailboxState
    def __init__(self, mailbox_id: _Optional[str] = ..., state: _Optional[_Union[_mailbox_pb2.MailboxState, str]] = ..., credential_kind: _Optional[_Union[CredentialKind, str]] = ..., access_token_expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., granted_scopes: _Optional[_Iterable[str]] = ..., last_refresh_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., has_refresh_token: bool = ..., last_error_reason: _Optional[str] = ..., last_error_message: _Optional[str] = ..., account: _Optional[str] = ..., access_end_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AuthorizeWithClientCredentialsRequest(_message.Message):
    __slots__ = ["mailbox_id"]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: str
    def __init__(self, mailbox_id: _Optional[str] = ...) -> None: ...

class AuthorizeWithClientCredentialsResponse(_message.Message):
    __slots__ = ["status"]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: AuthorizationStatus
    def __init__(self, status: _Optional[_Union[AuthorizationStatus, _Mapping]] = ...) -> None: ...

class BeginAuthorizationRequest(_message.Message):
    __slots__ = ["login_hint", "mailbox_id", "redirect_uri"]
    LOGIN_HINT_FIELD_NUMBER: _ClassVar[int]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    login_hint: str
    mailbox_id: str
    redirect_uri: str
    def __init__(self, mailbox_id: _Optional[str] = ..., redirect_uri: _Optional[str] = ..., login_hint: _Optional[str] = ...) -> None: ...

class BeginAuthorizationResponse(_message.Message):
    __slots__ = ["authorization_url", "expire_time", "redirect_uri", "state"]
    AUTHORIZATION_URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    authorization_url: str
    expire_time: _timestamp_pb2.Timestamp
    redirect_uri: str
    state: str
    def __init__(self, authorization_url: _Optional[str] = ..., state: _Optional[str] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., redirect_uri: _Optional[str] = ...) -> None: ...

class CompleteAuthorizationRequest(_message.Message):
    __slots__ = ["callback_url", "code", "iss", "state"]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ISS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    callback_url: str
    code: str
    iss: str
    state: str
    def __init__(self, state: _Optional[str] = ..., code: _Optional[str] = ..., callback_url: _Optional[str] = ..., iss: _Optional[str] = ...) -> None: ...

class CompleteAuthorizationResponse(_message.Message):
    __slots__ = ["status"]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: AuthorizationStatus
    def __init__(self, status: _Optional[_Union[AuthorizationStatus, _Mapping]] = ...) -> None: ...

class DeviceCodePrompt(_message.Message):
    __slots__ = ["expire_time", "user_code", "verification_uri", "verification_uri_complete"]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    USER_CODE_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_URI_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_URI_FIELD_NUMBER: _ClassVar[int]
    expire_time: _timestamp_pb2.Timestamp
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    def __init__(self, user_code: _Optional[str] = ..., verification_uri: _Optional[str] = ..., verification_uri_complete: _Optional[str] = ..., expire_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAuthorizationStatusRequest(_message.Message):
    __slots__ = ["mailbox_id"]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: str
    def __init__(self, mailbox_id: _Optional[str] = ...) -> None: ...

class GetAuthorizationStatusResponse(_message.Message):
    __slots__ = ["status"]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: AuthorizationStatus
    def __init__(self, status: _Optional[_Union[AuthorizationStatus, _Mapping]] = ...) -> None: ...

class ImportRefreshTokenRequest(_message.Message):
    __slots__ = ["mailbox_id", "refresh_token"]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: str
    refresh_token: str
    def __init__(self, mailbox_id: _Optional[str] = ..., refresh_token: _Optional[str] = ...) -> None: ...

class ImportRefreshTokenResponse(_message.Message):
    __slots__ = ["status"]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: AuthorizationStatus
    def __init__(self, status: _Optional[_Union[AuthorizationStatus, _Mapping]] = ...) -> None: ...

class RevokeAuthorizationRequest(_message.Message):
    __slots__ = ["mailbox_id"]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: str
    def __init__(self, mailbox_id: _Optional[str] = ...) -> None: ...

class RevokeAuthorizationResponse(_message.Message):
    __slots__ = ["revoked_at_provider", "status"]
    REVOKED_AT_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    revoked_at_provider: bool
    status: AuthorizationStatus
    def __init__(self, revoked_at_provider: bool = ..., status: _Optional[_Union[AuthorizationStatus, _Mapping]] = ...) -> None: ...

class SetMailboxPasswordRequest(_message.Message):
    __slots__ = ["mailbox_id", "password", "skip_verification"]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    SKIP_VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: str
    password: str
    skip_verification: bool
    def __init__(self, mailbox_id: _Optional[str] = ..., password: _Optional[str] = ..., skip_verification: bool = ...) -> None: ...

class SetMailboxPasswordResponse(_message.Message):
    __slots__ = ["status"]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: AuthorizationStatus
    def __init__(self, status: _Optional[_Union[AuthorizationStatus, _Mapping]] = ...) -> None: ...

class StartDeviceAuthorizationRequest(_message.Message):
    __slots__ = ["mailbox_id"]
    MAILBOX_ID_FIELD_NUMBER: _ClassVar[int]
    mailbox_id: str
    def __init__(self, mailbox_id: _Optional[str] = ...) -> None: ...

class StartDeviceAuthorizationResponse(_message.Message):
    __slots__ = ["completed", "prompt"]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    completed: AuthorizationStatus
    prompt: DeviceCodePrompt
    def __init__(self, prompt: _Optional[_Union[DeviceCodePrompt, _Mapping]] = ..., completed: _Optional[_Union[AuthorizationStatus, _Mapping]] = ...) -> None: ...

class CredentialKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
