// Refused calls: the google.rpc.ErrorInfo the server sends, over Connect's ConnectError.
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "./gen/mailgrpc/v1/error_reason_pb.js";

/** What a refused call says: branch on `reason`, never on the message. */
export interface MailGrpcErrorInfo {
  /** The gRPC status. */
  readonly code: Code;
  /** The reason as the contract's enum; `ErrorReason.ERROR_REASON_UNSPECIFIED` for one newer than this package. */
  readonly reason: ErrorReason;
  /** The reason exactly as sent (e.g. `MAILBOX_NOT_FOUND`). */
  readonly reasonName: string;
  /** `mailgrpc.v1`. */
  readonly domain: string;
  /** What the error is about (`field`, `mailbox_id`, `state`, `cause`, ...); never a secret. */
  readonly metadata: Readonly<Record<string, string>>;
  /** For people. */
  readonly message: string;
  /** True only for UNAVAILABLE, the one status the retry policy retries. */
  readonly isTransient: boolean;
}

/**
 * The MailGrpc error in anything a call threw (a `ConnectError` with an `ErrorInfo` detail), or undefined for other
 * errors (a `MessageIntegrityError`, a proxy's status without details, a bug).
 */
export function mailGrpcError(error: unknown): MailGrpcErrorInfo | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  const [info] = error.findDetails(ErrorInfoSchema);
  if (!info) return undefined;
  const known = (ErrorReason as unknown as Record<string, number | undefined>)[info.reason];
  return {
    code: error.code,
    reason: typeof known === "number" && known > 0 ? (known as ErrorReason) : ErrorReason.ERROR_REASON_UNSPECIFIED,
    reasonName: info.reason,
    domain: info.domain,
    metadata: { ...info.metadata },
    message: error.rawMessage,
    isTransient: error.code === Code.Unavailable,
  };
}

/** True when `error` is a refused call with this reason. */
export function hasReason(error: unknown, reason: ErrorReason): boolean {
  return mailGrpcError(error)?.reason === reason;
}
