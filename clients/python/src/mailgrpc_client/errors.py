"""MailGrpcError: a refused call with the reason (docs/errors.md) and metadata the server sent in google.rpc.ErrorInfo."""

from __future__ import annotations

from typing import Mapping, Optional

import grpc

from google.rpc import error_details_pb2, status_pb2
from mailgrpc.v1 import error_reason_pb2

_DETAILS_KEY = "grpc-status-details-bin"


class MailGrpcError(grpc.RpcError):
    """A call MailGrpc refused. Branch on ``reason`` (an ``ErrorReason`` value), never on the message.

    ``reason`` is the ``mailgrpc.v1.ErrorReason`` number (compare with ``ErrorReason.MAILBOX_NOT_FOUND`` or the module
    constant ``error_reason_pb2.MAILBOX_NOT_FOUND``); ``reason_name`` is the string as sent (also for a reason newer
    than this package, whose ``reason`` is then ``ERROR_REASON_UNSPECIFIED``). ``metadata`` says what the error is
    about (``field``, ``mailbox_id``, ``state``, ``cause``, ...); ``code`` is the ``grpc.StatusCode``.
    """

    def __init__(self, code: grpc.StatusCode, message: str, reason_name: str, domain: str,
                 metadata: Mapping[str, str]) -> None:
        super().__init__(f"{code.name} {reason_name}: {message}")
        self._code = code
        self._message = message
        self.reason_name = reason_name
        self.reason: int = error_reason_pb2.ErrorReason.Value(reason_name) \
            if reason_name in error_reason_pb2.ErrorReason.keys() else error_reason_pb2.ERROR_REASON_UNSPECIFIED
        self.domain = domain
        self.metadata = dict(metadata)

    def code(self) -> grpc.StatusCode:
        """The gRPC status code (as on ``grpc.RpcError`` calls)."""
        return self._code

    def details(self) -> str:
        """The status message, for people."""
        return self._message

    @property
    def is_transient(self) -> bool:
        """True only for UNAVAILABLE, the one status the retry policy retries; anything else says what to fix."""
        return self._code == grpc.StatusCode.UNAVAILABLE

    @staticmethod
    def from_rpc_error(error: grpc.RpcError) -> grpc.RpcError:
        """The ``MailGrpcError`` for a refused call carrying an ErrorInfo, else ``error`` itself."""
        if isinstance(error, MailGrpcError):
            return error
        info = _error_info(error)
        if info is None:
            return error
        code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
        message = error.details() if callable(getattr(error, "details", None)) else ""
        return MailGrpcError(code, message or "", info.reason, info.domain, info.metadata)


def _error_info(error: grpc.RpcError) -> Optional[error_details_pb2.ErrorInfo]:
    trailers = error.trailing_metadata() if callable(getattr(error, "trailing_metadata", None)) else None
    for key, value in trailers or ():
        if key == _DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info
    return None
