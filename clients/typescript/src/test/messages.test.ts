import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { MessageFrameSchema, type MessageFrame } from "../gen/mailgrpc/v1/message_service_pb.js";
import { readMessages, MessageIntegrityError, type ReceivedMessage } from "../messages.js";

const CHUNK = 64 * 1024;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const mime = (subject: string, lines: number) =>
  Buffer.from(`Subject: ${subject}\r\n\r\n` + Array.from({ length: lines }, (_, i) => `line ${i} of ${subject}\r\n`).join(""));

function frames(uid: string, content: Uint8Array, digest = sha(content)): MessageFrame[] {
  const out: MessageFrame[] = [create(MessageFrameSchema, { frame: { case: "summary", value: { uid, size: BigInt(content.length) } } })];
  for (let offset = 0; offset < content.length; offset += CHUNK) {
    out.push(create(MessageFrameSchema, { frame: { case: "chunk", value: { offset: BigInt(offset), data: content.subarray(offset, offset + CHUNK) } } }));
  }
  out.push(create(MessageFrameSchema, { frame: { case: "end", value: { uid, size: BigInt(content.length), sha256: digest } } }));
  return out;
}

async function* source(list: MessageFrame[]) {
  for (const f of list) yield f;
}

async function readAll(list: MessageFrame[]): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  for await (const m of readMessages(source(list))) out.push(m);
  return out;
}

test("reassembles messages across chunks and verifies their sha256", async () => {
  const a = mime("first", 10_000);
  const b = mime("second", 2);
  const messages = await readAll([...frames("u1", a), ...frames("u2", b)]);
  assert.ok(a.length > 2 * CHUNK);
  assert.deepEqual(messages.map((m) => [m.uid, m.sha256]), [["u1", sha(a)], ["u2", sha(b)]]);
  assert.ok(Buffer.from(messages[0].content).equals(a));
  assert.ok(Buffer.from(messages[1].content).equals(b));
});

test("a sha256 mismatch throws before the message is yielded", async () => {
  const good = mime("good", 3);
  const yielded: string[] = [];
  await assert.rejects(async () => {
    for await (const m of readMessages(source([...frames("u1", good), ...frames("u2", mime("bad", 3), sha(good))]))) yielded.push(m.uid);
  }, (e: unknown) => e instanceof MessageIntegrityError && e.uid === "u2" && /SHA-256 mismatch/.test(e.message));
  assert.deepEqual(yielded, ["u1"]);
});

test("a skipped message is yielded with its reason and no content", async () => {
  const after = mime("after", 2);
  const skipped = [
    create(MessageFrameSchema, { frame: { case: "summary", value: { uid: "big", size: 99_000_000n } } }),
    create(MessageFrameSchema, { frame: { case: "skipped", value: { uid: "big", reason: "MESSAGE_TOO_LARGE" } } }),
  ];
  const messages = await readAll([...skipped, ...frames("u2", after)]);
  assert.deepEqual(messages.map((m) => [m.uid, m.skipReason, m.content.length]), [["big", "MESSAGE_TOO_LARGE", 0], ["u2", undefined, after.length]]);
});

test("an offset gap and a stream cut mid-message are refused", async () => {
  const content = mime("gap", 10_000);
  const all = frames("u1", content);
  await assert.rejects(readAll(all.filter((_, i) => i !== 2)), /expected 65536/);
  await assert.rejects(readAll(all.slice(0, -1)), /ended in the middle/);
});
