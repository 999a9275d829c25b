"""MailGrpc client: the generated stubs on one channel with the API key, deadlines and retries, MailGrpcError for
refused calls, and whole-message streams (blocking grpcio and asyncio grpc.aio)."""

from mailgrpc.v1.error_reason_pb2 import ErrorReason
from mailgrpc_client.client import AsyncMailGrpcClient, MailGrpcClient, service_config
from mailgrpc_client.errors import MailGrpcError
from mailgrpc_client.messages import MessageIntegrityError, ReceivedMessage, read_messages, read_messages_async
from mailgrpc_client.webhooks import WebhookEvent, WebhookVerificationError, verify_webhook

__version__ = "0.2.0"

__all__ = ["AsyncMailGrpcClient", "ErrorReason", "MailGrpcClient", "MailGrpcError", "MessageIntegrityError",
           "ReceivedMessage", "WebhookEvent", "WebhookVerificationError", "read_messages", "read_messages_async",
           "service_config", "verify_webhook", "__version__"]
