// Smoke test against a live server and the rig (run by clients/smoke-test.sh; the README example does the same).
// Registers a password mailbox, sets its password, streams every message (each SHA-256 checked against the
// end frame and against the expected set), acknowledges them with delete, and checks the mailbox is empty.
import { createMailGrpcClient, AuthMethodSchema, PasswordAuthSchema, Security } from "../index.js";
import { create } from "@bufbuild/protobuf";

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const client = createMailGrpcClient({ address: env("MAILGRPC_ADDRESS"), apiKey: env("MAILGRPC_API_KEY"), unaryTimeoutMs: 60_000 });
const expected = new Set(env("MAILGRPC_SMOKE_EXPECTED_SHA256").split(","));
const consumer = "smoke-typescript";

const { mailbox } = await client.mailboxes.createMailbox({
  mailbox: {
    username: env("MAILGRPC_SMOKE_USER"),
    displayName: "TypeScript smoke test",
    server: { host: env("MAILGRPC_SMOKE_POP3_HOST"), port: Number(env("MAILGRPC_SMOKE_POP3_PORT")), security: Security[env("MAILGRPC_SMOKE_POP3_SECURITY") as keyof typeof Security] },
    authMethod: create(AuthMethodSchema, { method: { case: "password", value: create(PasswordAuthSchema) } }),
  },
});
const mailboxId = mailbox!.mailboxId;
console.log(`created mailbox ${mailboxId}`);
await client.authorization.setMailboxPassword({ mailboxId, password: env("MAILGRPC_SMOKE_PASSWORD") });

const uids: string[] = [];
for await (const message of client.streamMessages({ mailboxId, consumer })) {
  if (message.skipReason) throw new Error(`message ${message.uid} was skipped: ${message.skipReason}`);
  if (!expected.has(message.sha256)) throw new Error(`message ${message.uid} has unexpected sha256 ${message.sha256}`);
  expected.delete(message.sha256);
  uids.push(message.uid);
  console.log(`received ${message.uid}: ${message.content.length} bytes, sha256 ${message.sha256}`);
}
if (expected.size !== 0) throw new Error(`${expected.size} expected messages were not streamed`);

const ack = await client.messages.acknowledgeMessages({ mailboxId, consumer, uids, delete: true });
if ([...ack.deletedUids].sort().join(",") !== [...uids].sort().join(",")) {
  throw new Error(`acknowledge deleted ${ack.deletedUids.join(",")} of ${uids.join(",")}`);
}
const listed = await client.messages.listMessages({ mailboxId });
if (listed.totalCount !== 0) throw new Error(`mailbox still holds ${listed.totalCount} messages`);
await client.mailboxes.deleteMailbox({ mailboxId });
console.log(`typescript smoke: ${uids.length} messages streamed, verified, acknowledged and deleted; mailbox empty`);
