import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "../gen/mailgrpc/v1/error_reason_pb.js";
import { MailboxService } from "../gen/mailgrpc/v1/mailbox_service_pb.js";
import { hasReason, mailGrpcError } from "../errors.js";
import { retryInterceptor } from "../retry.js";

const refusal = (code: Code, reason: string, metadata: Record<string, string> = {}) =>
  new ConnectError("refused", code, undefined, [{ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: "mailgrpc.v1", metadata }) }]);

test("a known reason becomes the enum value with its metadata", () => {
  const info = mailGrpcError(refusal(Code.NotFound, "MAILBOX_NOT_FOUND", { mailbox_id: "m1" }));
  assert.equal(info?.reason, ErrorReason.MAILBOX_NOT_FOUND);
  assert.equal(info?.reasonName, "MAILBOX_NOT_FOUND");
  assert.deepEqual(info?.metadata, { mailbox_id: "m1" });
  assert.equal(info?.isTransient, false);
  assert.ok(hasReason(refusal(Code.Unauthenticated, "API_KEY_INVALID"), ErrorReason.API_KEY_INVALID));
});

test("a reason newer than the package keeps its string; other errors have no info", () => {
  const info = mailGrpcError(refusal(Code.Unavailable, "SOMETHING_NEW"));
  assert.equal(info?.reason, ErrorReason.ERROR_REASON_UNSPECIFIED);
  assert.equal(info?.reasonName, "SOMETHING_NEW");
  assert.equal(info?.isTransient, true);
  assert.equal(mailGrpcError(new Error("x")), undefined);
  assert.equal(mailGrpcError(new ConnectError("proxy", Code.Unavailable)), undefined);
});

// Drives the interceptor with a fake `next` that fails with the given codes, then succeeds.
async function attempts(method: "getMailbox" | "createMailbox", codes: Code[]): Promise<{ calls: number; error?: ConnectError }> {
  let calls = 0;
  const next = async () => {
    const code = codes[calls++];
    if (code !== undefined) throw refusal(code, "X");
    return { stream: false } as never;
  };
  const request = { stream: false, service: MailboxService, method: MailboxService.method[method], signal: new AbortController().signal } as never;
  try {
    await retryInterceptor({ maxAttempts: 4, initialBackoffMs: 1, maxBackoffMs: 2 })(next)(request);
    return { calls };
  } catch (error) {
    return { calls, error: error as ConnectError };
  }
}

test("retries idempotent reads on UNAVAILABLE only, at most maxAttempts times", async () => {
  assert.deepEqual(await attempts("getMailbox", [Code.Unavailable, Code.Unavailable]), { calls: 3 });
  const exhausted = await attempts("getMailbox", [Code.Unavailable, Code.Unavailable, Code.Unavailable, Code.Unavailable, Code.Unavailable]);
  assert.equal(exhausted.calls, 4);
  assert.equal(exhausted.error?.code, Code.Unavailable);
  const precondition = await attempts("getMailbox", [Code.FailedPrecondition]);
  assert.equal(precondition.calls, 1);
  assert.equal(precondition.error?.code, Code.FailedPrecondition);
  const write = await attempts("createMailbox", [Code.Unavailable]);
  assert.equal(write.calls, 1);
});
