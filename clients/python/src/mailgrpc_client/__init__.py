"""MailGrpc client: the generated stubs on one channel with the API key on every call, and whole-message streams."""

from mailgrpc_client.client import MailGrpcClient
from mailgrpc_client.messages import MessageIntegrityError, ReceivedMessage, read_messages

__all__ = ["MailGrpcClient", "MessageIntegrityError", "ReceivedMessage", "read_messages"]
