import { createHmac, timingSafeEqual } from "node:crypto";

/** Why a webhook delivery did not verify; the same codes in every MailGrpc SDK. */
export type WebhookVerificationErrorCode =
  | "INVALID_SECRET"
  | "MISSING_HEADER"
  | "INVALID_TIMESTAMP"
  | "TIMESTAMP_TOO_OLD"
  | "TIMESTAMP_TOO_NEW"
  | "INVALID_SIGNATURE"
  | "INVALID_PAYLOAD";

/** A delivery that did not verify: `code` says why, `header` names the missing header (MISSING_HEADER only). */
export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
  constructor(
    readonly code: WebhookVerificationErrorCode,
    message: string,
    readonly header?: string,
  ) {
    super(message);
  }
}

/** A verified delivery: `id` is the dedupe key (the same on every retry), `timestamp` the signed attempt time. */
export interface WebhookEvent {
  id: string;
  timestamp: Date;
  /** The payload's `type` (e.g. "message.arrived"), or undefined when it has none. */
  type: string | undefined;
  /** The parsed JSON body. */
  payload: unknown;
}

export interface VerifyWebhookOptions {
  /** How far the signed timestamp may be from now, either way, in seconds. Default 300 (5 minutes). */
  toleranceSeconds?: number;
  /** The receiver's clock (tests); default now. */
  now?: Date;
}

export const WEBHOOK_ID_HEADER = "webhook-id";
export const WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp";
export const WEBHOOK_SIGNATURE_HEADER = "webhook-signature";
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(", ") : value;
  }
  return undefined;
}

function secretKey(secret: string): Buffer {
  const prefix = "whsec_";
  const encoded = typeof secret === "string" && secret.startsWith(prefix) ? secret.slice(prefix.length) : "";
  // Buffer.from(..., "base64") skips characters it does not know; insist on canonical base64 instead.
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(encoded) || encoded.length === 0) {
    throw new WebhookVerificationError("INVALID_SECRET", "The webhook secret is not whsec_ followed by base64.");
  }
  return Buffer.from(encoded, "base64");
}

/**
 * Verifies a Standard Webhooks delivery from MailGrpc and returns its event. `payload` is the raw request body,
 * exactly as received (parse it only after verifying); `headers` a Fetch `Headers` or Node's `req.headers`; `secret`
 * the endpoint's `whsec_…` secret. Checks the three headers, the timestamp (within `toleranceSeconds`, default 5
 * minutes, either way), at least one `v1` signature (constant-time compare; during a secret rotation the header
 * carries one per secret) and that the body is JSON. Throws `WebhookVerificationError` with a `code` otherwise.
 */
export function verifyWebhook(payload: string | Uint8Array, headers: HeaderSource, secret: string, options: VerifyWebhookOptions = {}): WebhookEvent {
  const key = secretKey(secret);
  const id = header(headers, WEBHOOK_ID_HEADER);
  const timestamp = header(headers, WEBHOOK_TIMESTAMP_HEADER);
  const signatures = header(headers, WEBHOOK_SIGNATURE_HEADER);
  for (const [name, value] of [[WEBHOOK_ID_HEADER, id], [WEBHOOK_TIMESTAMP_HEADER, timestamp], [WEBHOOK_SIGNATURE_HEADER, signatures]] as const) {
    if (!value) throw new WebhookVerificationError("MISSING_HEADER", `The ${name} header is missing.`, name);
  }
  if (!/^[0-9]{1,15}$/.test(timestamp!)) {
    throw new WebhookVerificationError("INVALID_TIMESTAMP", "webhook-timestamp is not a whole number of seconds since the Unix epoch.");
  }
  const seconds = Number(timestamp);
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  if (now - seconds > tolerance) throw new WebhookVerificationError("TIMESTAMP_TOO_OLD", `webhook-timestamp is more than ${tolerance} s old.`);
  if (seconds - now > tolerance) throw new WebhookVerificationError("TIMESTAMP_TOO_NEW", `webhook-timestamp is more than ${tolerance} s ahead of this clock.`);

  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const expected = Buffer.from(
    createHmac("sha256", key).update(`${id}.${timestamp}.`, "utf8").update(body).digest("base64"),
    "ascii",
  );
  let matched = false;
  for (const candidate of signatures!.split(" ")) {
    const comma = candidate.indexOf(",");
    if (comma < 0 || candidate.slice(0, comma) !== "v1") continue;
    const given = Buffer.from(candidate.slice(comma + 1), "utf8");
    // timingSafeEqual needs equal lengths; a length difference says nothing about the secret.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError("INVALID_SIGNATURE", "No v1 signature in webhook-signature matches this secret.");

  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw new WebhookVerificationError("INVALID_PAYLOAD", "The signed body is not JSON.");
  }
  const type = parsed !== null && typeof parsed === "object" && typeof (parsed as { type?: unknown }).type === "string" ? (parsed as { type: string }).type : undefined;
  return { id: id!, timestamp: new Date(seconds * 1000), type, payload: parsed };
}
