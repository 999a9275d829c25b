// The retry policy of every MailGrpc SDK (clients/README.md#retries) and the default deadline of unary calls, as
// Connect interceptors.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** Idempotent reads: the only calls retried. (Streams are not retried here: a stream may have delivered frames.) */
export const IDEMPOTENT_READS: ReadonlySet<string> = new Set([
  "mailgrpc.v1.MailboxService/GetMailbox",
  "mailgrpc.v1.MailboxService/ListMailboxes",
  "mailgrpc.v1.AuthorizationService/GetAuthorizationStatus",
  "mailgrpc.v1.MessageService/ListMessages",
]);

export interface RetryPolicy {
  /** Tries in all (1 turns retries off; at most 5). Default 4. */
  maxAttempts: number;
  /** First backoff in ms (doubling, with jitter, up to `maxBackoffMs`). Default 200. */
  initialBackoffMs: number;
  /** Default 2000. */
  maxBackoffMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, initialBackoffMs: 200, maxBackoffMs: 2000 };

/** Retries idempotent unary reads on UNAVAILABLE only, with exponential backoff; honours the call's abort signal. */
export function retryInterceptor(policy: RetryPolicy = DEFAULT_RETRY_POLICY): Interceptor {
  return (next) => async (request) => {
    if (request.stream || !IDEMPOTENT_READS.has(`${request.service.typeName}/${request.method.name}`)) return next(request);
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(request);
      } catch (error) {
        const transient = error instanceof ConnectError && error.code === Code.Unavailable;
        if (!transient || attempt >= policy.maxAttempts || request.signal.aborted) throw error;
        const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (attempt - 1));
        await sleep(ceiling * (0.5 + Math.random() / 2), request.signal);
      }
    }
  };
}

/** Gives unary calls that set no `timeoutMs` a deadline of `timeoutMs` (streams: none, a mailbox may be large). */
export function unaryDeadlineInterceptor(timeoutMs: number): Interceptor {
  return (next) => async (request) => {
    if (request.stream || request.header.has("grpc-timeout")) return next(request);
    request.header.set("grpc-timeout", `${Math.max(1, Math.round(timeoutMs))}m`);
    return next({ ...request, signal: AbortSignal.any([request.signal, AbortSignal.timeout(timeoutMs)]) });
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal.reason, Code.Canceled));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
