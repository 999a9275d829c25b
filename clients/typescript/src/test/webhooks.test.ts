import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
// The Standard Webhooks reference library for JavaScript: a devDependency, used by these tests only as a cross-check.
import { Webhook as ReferenceWebhook } from "standardwebhooks";
import { verifyWebhook, WebhookVerificationError } from "../index.js";

// The vectors the server's signer produced (first case: the Standard Webhooks libraries' published vector).
interface Vector {
  name: string;
  secret: string;
  payload: string;
  headers: Record<string, string>;
  now: number;
  tolerance_seconds: number;
  expect: { valid: true; id: string; timestamp: number; type: string | null } | { valid: false; error: string; header: string | null };
}
const vectors: Vector[] = JSON.parse(readFileSync(new URL("../../../testdata/webhook-vectors.json", import.meta.url), "utf8")).cases;

test("the shared vectors file has the specification's vector and tampered, expired and rotated cases", () => {
  assert.ok(vectors.length >= 25);
  assert.equal(vectors[0].headers["webhook-signature"], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  for (const code of ["INVALID_SIGNATURE", "TIMESTAMP_TOO_OLD", "TIMESTAMP_TOO_NEW", "MISSING_HEADER", "INVALID_TIMESTAMP", "INVALID_PAYLOAD", "INVALID_SECRET"]) {
    assert.ok(vectors.some((v) => !v.expect.valid && v.expect.error === code), code);
  }
});

for (const v of vectors) {
  test(`vector: ${v.name}`, () => {
    const run = () => verifyWebhook(v.payload, v.headers, v.secret, { toleranceSeconds: v.tolerance_seconds, now: new Date(v.now * 1000) });
    if (v.expect.valid) {
      const event = run();
      assert.equal(event.id, v.expect.id);
      assert.equal(event.timestamp.getTime(), v.expect.timestamp * 1000);
      assert.equal(event.type ?? null, v.expect.type);
      assert.deepEqual(event.payload, JSON.parse(v.payload));
      // The same bytes as a Uint8Array and the headers as Fetch Headers verify the same way.
      assert.equal(verifyWebhook(new TextEncoder().encode(v.payload), new Headers(v.headers), v.secret, { toleranceSeconds: v.tolerance_seconds, now: new Date(v.now * 1000) }).id, v.expect.id);
    } else {
      const expected = v.expect;
      assert.throws(run, (e: unknown) => e instanceof WebhookVerificationError && e.code === expected.error && (e.header ?? null) === expected.header);
    }
  });
}

test("the default tolerance is 5 minutes", () => {
  const v = vectors[0];
  assert.equal(verifyWebhook(v.payload, v.headers, v.secret, { now: new Date((v.now + 300) * 1000) }).id, v.headers["webhook-id"]);
  assert.throws(() => verifyWebhook(v.payload, v.headers, v.secret, { now: new Date((v.now + 301) * 1000) }), { code: "TIMESTAMP_TOO_OLD" });
});

test("the error never contains the secret", () => {
  const v = vectors.find((x) => x.name.startsWith("rotation: neither"))!;
  try {
    verifyWebhook(v.payload, v.headers, v.secret, { now: new Date(v.now * 1000) });
    assert.fail("verified");
  } catch (e) {
    assert.ok(e instanceof WebhookVerificationError);
    assert.ok(!e.message.includes(v.secret.slice(6)));
  }
});


test("the reference library's signature is among the server's for every valid vector", () => {
  for (const v of vectors.filter((x) => x.expect.valid)) {
    const reference = new ReferenceWebhook(v.secret).sign(v.headers["webhook-id"] ?? v.headers["Webhook-Id"], new Date(Number(v.headers["webhook-timestamp"] ?? v.headers["WEBHOOK-TIMESTAMP"]) * 1000), v.payload);
    const sent = (v.headers["webhook-signature"] ?? v.headers["Webhook-Signature"]).split(" ");
    assert.ok(sent.includes(reference), v.name);
  }
});

test("a delivery the reference library signs now verifies with the default tolerance; another secret's does not", () => {
  const secret = "whsec_" + randomBytes(32).toString("base64");
  const id = "evt_" + randomBytes(8).toString("hex");
  const now = new Date();
  const body = JSON.stringify({ type: "mailbox.state_changed", data: { mailboxId: "m1", state: "REAUTHORIZATION_REQUIRED" } });
  const headers = { "webhook-id": id, "webhook-timestamp": String(Math.floor(now.getTime() / 1000)), "webhook-signature": new ReferenceWebhook(secret).sign(id, now, body) };

  const event = verifyWebhook(body, headers, secret);
  assert.equal(event.type, "mailbox.state_changed");
  assert.equal(event.id, id);
  assert.throws(() => verifyWebhook(body, headers, "whsec_" + randomBytes(32).toString("base64")), { code: "INVALID_SIGNATURE" });
});
