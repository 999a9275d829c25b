"""MailGrpcClient (grpcio) and AsyncMailGrpcClient (grpc.aio): the generated stubs on one channel, with the API key on
every call, default deadlines, the SDKs' retry policy, MailGrpcError for refused calls, pages and message streams as
iterators."""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Callable, Iterator, List, Optional, Sequence, Tuple, cast

import grpc
import grpc.aio

from mailgrpc.v1 import (authorization_service_pb2_grpc, mailbox_pb2, mailbox_service_pb2, mailbox_service_pb2_grpc,
                         message_service_pb2, message_service_pb2_grpc)
from mailgrpc_client.errors import MailGrpcError
from mailgrpc_client.messages import ReceivedMessage, read_messages, read_messages_async

# The retry policy of every MailGrpc SDK (clients/README.md#retries): idempotent reads only, UNAVAILABLE only, at most
# 4 attempts, backoff 0.2 s doubling to 2 s. Streams are retried by gRPC only until their first message arrives.
IDEMPOTENT_READS = (
    ("mailgrpc.v1.MailboxService", "GetMailbox"),
    ("mailgrpc.v1.MailboxService", "ListMailboxes"),
    ("mailgrpc.v1.AuthorizationService", "GetAuthorizationStatus"),
    ("mailgrpc.v1.MessageService", "ListMessages"),
    ("mailgrpc.v1.MessageService", "StreamMessages"),
    ("mailgrpc.v1.MessageService", "GetMessage"),
)


def service_config(max_attempts: int = 4) -> str:
    """The channel's service config: the retry policy above (``max_attempts`` 1 turns retries off)."""
    if max_attempts <= 1:
        return json.dumps({})
    return json.dumps({"methodConfig": [{
        "name": [{"service": s, "method": m} for s, m in IDEMPOTENT_READS],
        "retryPolicy": {"maxAttempts": max_attempts, "initialBackoff": "0.2s", "maxBackoff": "2s",
                        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
    }]})


_STREAMING = {"StreamMessages", "GetMessage", "WatchMessages", "StartDeviceAuthorization"}
_Metadata = Sequence[Tuple[str, str]]


def _channel_options(max_attempts: int) -> list:
    return [("grpc.service_config", service_config(max_attempts)), ("grpc.enable_retries", 1),
            # Chunks are at most 64 KiB; room for large envelopes and pages.
            ("grpc.max_receive_message_length", 16 * 1024 * 1024)]


def _with_key(metadata: Optional[_Metadata], api_key: str) -> list:
    return [m for m in (metadata or ()) if m[0] != "x-api-key"] + [("x-api-key", api_key)]


class _Methods:
    """A generated stub whose methods add the API key and default deadline and raise MailGrpcError."""

    def __init__(self, stub: Any, api_key: str, unary_timeout: Optional[float]) -> None:
        self._stub, self._api_key, self._unary_timeout = stub, api_key, unary_timeout

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)
        streaming = name in _STREAMING

        def call(request: Any, *, timeout: Optional[float] = None, metadata: Optional[_Metadata] = None, **kwargs: Any) -> Any:
            metadata = _with_key(metadata, self._api_key)
            if streaming:
                return _translate_stream(method(request, timeout=timeout, metadata=metadata, **kwargs))
            try:
                return method(request, timeout=self._unary_timeout if timeout is None else timeout, metadata=metadata, **kwargs)
            except grpc.RpcError as error:
                raise MailGrpcError.from_rpc_error(error) from None

        return call


def _translate_stream(call: Any) -> Iterator[Any]:
    try:
        for response in call:
            yield response
    except grpc.RpcError as error:
        raise MailGrpcError.from_rpc_error(error) from None
    finally:
        call.cancel()  # a no-op after the end; frees the stream when the caller stops early (cancellation)


class _AsyncMethods(_Methods):
    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)
        if name in _STREAMING:
            def stream(request: Any, *, timeout: Optional[float] = None, metadata: Optional[_Metadata] = None, **kwargs: Any) -> Any:
                return _translate_stream_async(method(request, timeout=timeout, metadata=_with_key(metadata, self._api_key), **kwargs))
            return stream

        async def call(request: Any, *, timeout: Optional[float] = None, metadata: Optional[_Metadata] = None, **kwargs: Any) -> Any:
            try:
                return await method(request, timeout=self._unary_timeout if timeout is None else timeout,
                                    metadata=_with_key(metadata, self._api_key), **kwargs)
            except grpc.RpcError as error:
                raise MailGrpcError.from_rpc_error(error) from None

        return call


async def _translate_stream_async(call: Any) -> AsyncIterator[Any]:
    try:
        async for response in call:
            yield response
    except grpc.RpcError as error:
        raise MailGrpcError.from_rpc_error(error) from None
    finally:
        call.cancel()


def _credentials(tls: bool, root_certificates: Optional[bytes]) -> Optional[grpc.ChannelCredentials]:
    return grpc.ssl_channel_credentials(root_certificates=root_certificates) if tls or root_certificates else None


def _channel_settings(api_key: str, tls: bool, root_certificates: Optional[bytes],
                      max_attempts: int) -> Tuple[Optional[grpc.ChannelCredentials], List[Tuple[str, Any]]]:
    """Checks the arguments both clients share and returns their channel credentials (None: plaintext) and options."""
    if not api_key:
        raise ValueError("api_key is required")
    if not 1 <= max_attempts <= 5:
        raise ValueError("max_attempts must be 1 to 5")
    return _credentials(tls, root_certificates), _channel_options(max_attempts)


class MailGrpcClient:
    """The MailGrpc services on one channel (grpcio, blocking).

    ``target`` is ``host:port``. With ``root_certificates`` (PEM bytes) or ``tls=True`` the channel uses TLS;
    otherwise plaintext HTTP/2 (loopback and trusted networks). Every call sends ``api_key`` as ``x-api-key``; unary
    calls without a ``timeout`` get ``unary_timeout`` seconds (streams: none). Use as a context manager or ``close()``.
    """

    def __init__(self, target: str, api_key: str, *, tls: bool = False, root_certificates: Optional[bytes] = None,
                 unary_timeout: Optional[float] = 30.0, max_attempts: int = 4) -> None:
        credentials, options = _channel_settings(api_key, tls, root_certificates, max_attempts)
        self._channel = grpc.secure_channel(target, credentials, options) if credentials else grpc.insecure_channel(target, options)
        self.mailboxes = cast(mailbox_service_pb2_grpc.MailboxServiceStub,
                              _Methods(mailbox_service_pb2_grpc.MailboxServiceStub(self._channel), api_key, unary_timeout))
        self.authorization = cast(authorization_service_pb2_grpc.AuthorizationServiceStub,
                                  _Methods(authorization_service_pb2_grpc.AuthorizationServiceStub(self._channel), api_key, unary_timeout))
        self.messages = cast(message_service_pb2_grpc.MessageServiceStub,
                             _Methods(message_service_pb2_grpc.MessageServiceStub(self._channel), api_key, unary_timeout))

    def stream_messages(self, request: message_service_pb2.StreamMessagesRequest,
                        timeout: Optional[float] = None) -> Iterator[ReceivedMessage]:
        """Streams whole, SHA-256-verified messages (see ``read_messages``); stop iterating to cancel the stream."""
        responses = self.messages.StreamMessages(request, timeout=timeout)
        return read_messages(r.frame if r.HasField("frame") else None for r in responses)

    def list_mailboxes(self, page_size: int = 0) -> Iterator[mailbox_pb2.Mailbox]:
        """Every mailbox of the caller's tenant, fetching a page at a time as you iterate."""
        request = mailbox_service_pb2.ListMailboxesRequest(page_size=page_size)
        while True:
            page = self.mailboxes.ListMailboxes(request)
            yield from page.mailboxes
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def list_messages(self, request: message_service_pb2.ListMessagesRequest) -> Iterator[message_service_pb2.MessageInfo]:
        """Every message of a mailbox (uid, size; headers when asked), a page at a time as you iterate."""
        request = message_service_pb2.ListMessagesRequest.FromString(request.SerializeToString())
        while True:
            page = self.messages.ListMessages(request)
            yield from page.messages
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "MailGrpcClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMailGrpcClient:
    """``MailGrpcClient`` for asyncio (``grpc.aio``): the same arguments; calls are awaited, streams and pages are async
    iterators. Use as an async context manager or ``await close()``."""

    def __init__(self, target: str, api_key: str, *, tls: bool = False, root_certificates: Optional[bytes] = None,
                 unary_timeout: Optional[float] = 30.0, max_attempts: int = 4) -> None:
        credentials, options = _channel_settings(api_key, tls, root_certificates, max_attempts)
        self._channel = grpc.aio.secure_channel(target, credentials, options) if credentials else grpc.aio.insecure_channel(target, options)
        self.mailboxes: Any = _AsyncMethods(mailbox_service_pb2_grpc.MailboxServiceStub(self._channel), api_key, unary_timeout)
        self.authorization: Any = _AsyncMethods(authorization_service_pb2_grpc.AuthorizationServiceStub(self._channel), api_key, unary_timeout)
        self.messages: Any = _AsyncMethods(message_service_pb2_grpc.MessageServiceStub(self._channel), api_key, unary_timeout)

    async def stream_messages(self, request: message_service_pb2.StreamMessagesRequest,
                              timeout: Optional[float] = None) -> AsyncIterator[ReceivedMessage]:
        """Streams whole, SHA-256-verified messages; stop iterating (or cancel the task) to cancel the stream."""
        async def frames() -> AsyncIterator[Optional[message_service_pb2.MessageFrame]]:
            async for r in self.messages.StreamMessages(request, timeout=timeout):
                yield r.frame if r.HasField("frame") else None
        async for message in read_messages_async(frames()):
            yield message

    async def list_mailboxes(self, page_size: int = 0) -> AsyncIterator[mailbox_pb2.Mailbox]:
        request = mailbox_service_pb2.ListMailboxesRequest(page_size=page_size)
        while True:
            page = await self.mailboxes.ListMailboxes(request)
            for mailbox in page.mailboxes:
                yield mailbox
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def list_messages(self, request: message_service_pb2.ListMessagesRequest) -> AsyncIterator[message_service_pb2.MessageInfo]:
        request = message_service_pb2.ListMessagesRequest.FromString(request.SerializeToString())
        while True:
            page = await self.messages.ListMessages(request)
            for message in page.messages:
                yield message
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncMailGrpcClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
