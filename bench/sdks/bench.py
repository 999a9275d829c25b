"""Streams one mailbox through the Python SDK ("sdk": MailGrpcClient.stream_messages, SHA-256 checked by the SDK) or
through a bare grpcio channel and the generated stub ("bare": frames hashed here); prints
"RESULT <mode> <messages> <bytes> <seconds>". Run by bench/sdks.sh with PYTHONPATH=clients/python/src."""
import hashlib
import os
import sys
import time

import grpc

from mailgrpc.v1 import message_service_pb2 as msg, message_service_pb2_grpc
from mailgrpc_client import MailGrpcClient

mode = sys.argv[1]
target, api_key = os.environ["MAILGRPC_TARGET"], os.environ["MAILGRPC_API_KEY"]
request = msg.StreamMessagesRequest(mailbox_id=os.environ["BENCH_MAILBOX_ID"], view=msg.MESSAGE_VIEW_FULL)
messages = size = 0
started = time.perf_counter()
if mode == "sdk":
    with MailGrpcClient(target, api_key) as client:
        for message in client.stream_messages(request):
            messages += 1
            size += len(message.content)
else:
    with grpc.insecure_channel(target, [("grpc.max_receive_message_length", 16 * 1024 * 1024)]) as channel:
        stub = message_service_pb2_grpc.MessageServiceStub(channel)
        digest = hashlib.sha256()
        for response in stub.StreamMessages(request, metadata=[("x-api-key", api_key)]):
            kind = response.frame.WhichOneof("frame")
            if kind == "chunk":
                digest.update(response.frame.chunk.data)
                size += len(response.frame.chunk.data)
            elif kind == "end":
                if digest.hexdigest() != response.frame.end.sha256:
                    raise SystemExit(f"SHA-256 mismatch for {response.frame.end.uid}")
                digest = hashlib.sha256()
                messages += 1
print(f"RESULT {mode} {messages} {size} {time.perf_counter() - started:.3f}")
