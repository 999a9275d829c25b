// The client: the generated services on one gRPC (HTTP/2) transport with the API key on every call, a default
// deadline for unary calls, the SDKs' retry policy, pages and whole-message streams as async iterators.
import { readFileSync } from "node:fs";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { MailboxService, type ListMailboxesRequestSchema } from "./gen/mailgrpc/v1/mailbox_service_pb.js";
import type { Mailbox } from "./gen/mailgrpc/v1/mailbox_pb.js";
import { AuthorizationService } from "./gen/mailgrpc/v1/authorization_service_pb.js";
import {
  MessageService,
  type ListMessagesRequestSchema,
  type MessageInfo,
  type StreamMessagesRequestSchema,
} from "./gen/mailgrpc/v1/message_service_pb.js";
import { framesOf, readMessages, type ReceivedMessage } from "./messages.js";
import { DEFAULT_RETRY_POLICY, retryInterceptor, unaryDeadlineInterceptor, type RetryPolicy } from "./retry.js";

export interface MailGrpcClientOptions {
  /** The server's gRPC address: `http://127.0.0.1:5080` (HTTP/2 without TLS) or `https://host:port`. */
  address: string;
  /** Sent as `x-api-key` on every call. */
  apiKey: string;
  /** PEM file of an extra root CA to trust for an `https` address (private PKI, test rigs). */
  caFile?: string;
  /** Deadline in ms of unary calls that set no `timeoutMs` themselves; 30 000 by default. Streams have none. */
  unaryTimeoutMs?: number;
  /** Retries of idempotent reads on UNAVAILABLE; `{ maxAttempts: 1 }` turns them off. */
  retry?: Partial<RetryPolicy>;
}

/** Per-call options: `signal` cancels, `timeoutMs` sets the deadline. */
export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface MailGrpcClient {
  readonly mailboxes: Client<typeof MailboxService>;
  readonly authorization: Client<typeof AuthorizationService>;
  readonly messages: Client<typeof MessageService>;
  /** Streams whole, SHA-256-verified messages (see `readMessages`); stop iterating or abort `signal` to cancel. */
  streamMessages(request: MessageInitShape<typeof StreamMessagesRequestSchema>, options?: CallOptions): AsyncGenerator<ReceivedMessage>;
  /** Every mailbox of the tenant, a page at a time as you iterate. */
  listMailboxes(request?: MessageInitShape<typeof ListMailboxesRequestSchema>, options?: CallOptions): AsyncGenerator<Mailbox>;
  /** Every message of a mailbox (uid, size; headers when asked), a page at a time as you iterate. */
  listMessages(request: MessageInitShape<typeof ListMessagesRequestSchema>, options?: CallOptions): AsyncGenerator<MessageInfo>;
}

export function createMailGrpcClient(options: MailGrpcClientOptions): MailGrpcClient {
  if (!/^https?:\/\//.test(options.address)) throw new Error("address must be an http:// or https:// URL");
  if (!options.apiKey) throw new Error("apiKey is required");
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  if (policy.maxAttempts < 1 || policy.maxAttempts > 5) throw new Error("retry.maxAttempts must be 1 to 5");
  const apiKey: Interceptor = (next) => (request) => {
    request.header.set("x-api-key", options.apiKey);
    return next(request);
  };
  const transport = createGrpcTransport({
    baseUrl: options.address,
    // Outermost first: retries wrap each attempt, which gets the API key and a deadline.
    interceptors: [retryInterceptor(policy), apiKey, unaryDeadlineInterceptor(options.unaryTimeoutMs ?? 30_000)],
    nodeOptions: options.caFile ? { ca: readFileSync(options.caFile) } : undefined,
  });
  const mailboxes = createClient(MailboxService, transport);
  const messages = createClient(MessageService, transport);
  return {
    mailboxes,
    authorization: createClient(AuthorizationService, transport),
    messages,
    streamMessages: (request, callOptions) => readMessages(framesOf(messages.streamMessages(request, callOptions))),
    async *listMailboxes(request = {}, callOptions) {
      let pageToken = request.pageToken ?? "";
      do {
        const page = await mailboxes.listMailboxes({ ...request, pageToken }, callOptions);
        yield* page.mailboxes;
        pageToken = page.nextPageToken;
      } while (pageToken);
    },
    async *listMessages(request, callOptions) {
      let pageToken = request.pageToken ?? "";
      do {
        const page = await messages.listMessages({ ...request, pageToken }, callOptions);
        yield* page.messages;
        pageToken = page.nextPageToken;
      } while (pageToken);
    },
  };
}
