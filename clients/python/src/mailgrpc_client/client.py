"""A thin client: the generated stubs on one channel, with the API key on every call and default deadlines."""

from __future__ import annotations

from typing import Iterator, Optional

import grpc

from mailgrpc.v1 import authorization_service_pb2_grpc, mailbox_service_pb2_grpc, message_service_pb2, message_service_pb2_grpc
from mailgrpc_client.messages import ReceivedMessage, read_messages


class _ApiKey(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds x-api-key to every call, and a deadline to unary calls that set none."""

    def __init__(self, api_key: str, unary_timeout: Optional[float]) -> None:
        self._api_key = api_key
        self._unary_timeout = unary_timeout

    def _details(self, details: grpc.ClientCallDetails, timeout: Optional[float]) -> grpc.ClientCallDetails:
        metadata = [m for m in (details.metadata or []) if m[0] != "x-api-key"] + [("x-api-key", self._api_key)]
        return _CallDetails(details.method, details.timeout if details.timeout is not None else timeout, metadata,
                            details.credentials, details.wait_for_ready, details.compression)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details, self._unary_timeout), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details, None), request)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


class MailGrpcClient:
    """The MailGrpc services on one channel.

    ``target`` is ``host:port``. With ``root_certificates`` (PEM bytes) or ``tls=True`` the channel uses TLS;
    otherwise plaintext HTTP/2 (loopback and trusted networks). Use as a context manager, or call ``close()``.
    """

    def __init__(self, target: str, api_key: str, *, tls: bool = False, root_certificates: Optional[bytes] = None,
                 unary_timeout: Optional[float] = 30.0) -> None:
        if not api_key:
            raise ValueError("api_key is required")
        if tls or root_certificates:
            channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=root_certificates))
        else:
            channel = grpc.insecure_channel(target)
        self._channel = channel
        intercepted = grpc.intercept_channel(channel, _ApiKey(api_key, unary_timeout))
        self.mailboxes = mailbox_service_pb2_grpc.MailboxServiceStub(intercepted)
        self.authorization = authorization_service_pb2_grpc.AuthorizationServiceStub(intercepted)
        self.messages = message_service_pb2_grpc.MessageServiceStub(intercepted)

    def stream_messages(self, request: message_service_pb2.StreamMessagesRequest,
                        timeout: Optional[float] = None) -> Iterator[ReceivedMessage]:
        """Streams whole, SHA-256-verified messages (see ``read_messages``)."""
        responses = self.messages.StreamMessages(request, timeout=timeout)
        return read_messages(r.frame if r.HasField("frame") else None for r in responses)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "MailGrpcClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
