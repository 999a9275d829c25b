"""Smoke test against a live server and the rig (run by clients/smoke-test.sh; the README example does the same).

Registers a password mailbox, sets its password, streams every message (each SHA-256 checked against the end frame
and the expected set), acknowledges them with delete, and checks that the mailbox is empty.
"""

import asyncio
import os

from mailgrpc.v1 import authorization_service_pb2 as auth
from mailgrpc.v1 import mailbox_pb2, mailbox_service_pb2 as mbx, message_service_pb2 as msg
from mailgrpc_client import AsyncMailGrpcClient, ErrorReason, MailGrpcClient, MailGrpcError

env = os.environ
expected = set(env["MAILGRPC_SMOKE_EXPECTED_SHA256"].split(","))
consumer = "smoke-python"

with MailGrpcClient(env["MAILGRPC_TARGET"], env["MAILGRPC_API_KEY"]) as client:
    mailbox = client.mailboxes.CreateMailbox(mbx.CreateMailboxRequest(mailbox=mailbox_pb2.Mailbox(
        username=env["MAILGRPC_SMOKE_USER"],
        display_name="Python smoke test",
        server=mailbox_pb2.ServerSettings(
            host=env["MAILGRPC_SMOKE_POP3_HOST"], port=int(env["MAILGRPC_SMOKE_POP3_PORT"]),
            security=mailbox_pb2.Security.Value("SECURITY_" + env["MAILGRPC_SMOKE_POP3_SECURITY"])),
        auth_method=mailbox_pb2.AuthMethod(password=mailbox_pb2.PasswordAuth())))).mailbox
    mailbox_id = mailbox.mailbox_id
    print(f"created mailbox {mailbox_id}")
    client.authorization.SetMailboxPassword(auth.SetMailboxPasswordRequest(
        mailbox_id=mailbox_id, password=env["MAILGRPC_SMOKE_PASSWORD"]))

    uids = []
    for message in client.stream_messages(msg.StreamMessagesRequest(mailbox_id=mailbox_id, consumer=consumer)):
        assert message.skip_reason is None, f"message {message.uid} was skipped: {message.skip_reason}"
        assert message.sha256 in expected, f"message {message.uid} has unexpected sha256 {message.sha256}"
        expected.discard(message.sha256)
        uids.append(message.uid)
        print(f"received {message.uid}: {len(message.content)} bytes, sha256 {message.sha256}")
    assert not expected, f"{len(expected)} expected messages were not streamed"

    async def asyncio_client(mailbox_id: str, count: int) -> None:
        """The grpc.aio client on the same server: pages of one mailbox, a page of messages, a reason."""
        async with AsyncMailGrpcClient(env["MAILGRPC_TARGET"], env["MAILGRPC_API_KEY"]) as aio:
            ids = [m.mailbox_id async for m in aio.list_mailboxes(page_size=1)]
            assert mailbox_id in ids, f"{mailbox_id} not listed in {ids}"
            listed = [m.uid async for m in aio.list_messages(msg.ListMessagesRequest(mailbox_id=mailbox_id, page_size=2))]
            assert len(listed) == count, f"asyncio list_messages: {len(listed)} of {count}"
            try:
                await aio.mailboxes.GetMailbox(mbx.GetMailboxRequest(mailbox_id="no-such-mailbox"))
                raise AssertionError("GetMailbox of a missing mailbox succeeded")
            except MailGrpcError as error:
                assert error.reason == ErrorReason.Value("MAILBOX_NOT_FOUND"), error
        print(f"asyncio client: {len(ids)} mailboxes in pages of 1, {count} messages in pages of 2, MAILBOX_NOT_FOUND")

    asyncio.run(asyncio_client(mailbox_id, len(uids)))

    ack = client.messages.AcknowledgeMessages(msg.AcknowledgeMessagesRequest(
        mailbox_id=mailbox_id, consumer=consumer, uids=uids, delete=True))
    assert sorted(ack.deleted_uids) == sorted(uids), f"acknowledge deleted {list(ack.deleted_uids)} of {uids}"
    listed = client.messages.ListMessages(msg.ListMessagesRequest(mailbox_id=mailbox_id))
    assert listed.total_count == 0, f"mailbox still holds {listed.total_count} messages"
    client.mailboxes.DeleteMailbox(mbx.DeleteMailboxRequest(mailbox_id=mailbox_id))
    print(f"python smoke: {len(uids)} messages streamed, verified, acknowledged and deleted; mailbox empty")
