// A thin client: the generated services on one gRPC (HTTP/2) transport with the API key on every call.
import { readFileSync } from "node:fs";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MailboxService } from "./gen/mailgrpc/v1/mailbox_service_pb.js";
import { AuthorizationService } from "./gen/mailgrpc/v1/authorization_service_pb.js";
import { MessageService, type StreamMessagesRequest } from "./gen/mailgrpc/v1/message_service_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { StreamMessagesRequestSchema } from "./gen/mailgrpc/v1/message_service_pb.js";
import { framesOf, readMessages, type ReceivedMessage } from "./messages.js";

export interface MailGrpcClientOptions {
  /** The server's gRPC address: `http://127.0.0.1:5080` (HTTP/2 without TLS) or `https://host:port`. */
  address: string;
  /** Sent as `x-api-key` on every call. */
  apiKey: string;
  /** PEM of an extra root CA to trust for an `https` address (private PKI, test rigs). */
  caFile?: string;
  /** Deadline of every call in milliseconds unless a call sets `timeoutMs`; none by default. */
  timeoutMs?: number;
}

export interface MailGrpcClient {
  readonly mailboxes: Client<typeof MailboxService>;
  readonly authorization: Client<typeof AuthorizationService>;
  readonly messages: Client<typeof MessageService>;
  /** Streams whole, SHA-256-verified messages (see `readMessages`). */
  streamMessages(request: MessageInitShape<typeof StreamMessagesRequestSchema> | StreamMessagesRequest, options?: { signal?: AbortSignal }): AsyncGenerator<ReceivedMessage>;
}

export function createMailGrpcClient(options: MailGrpcClientOptions): MailGrpcClient {
  if (!/^https?:\/\//.test(options.address)) throw new Error("address must be an http:// or https:// URL");
  if (!options.apiKey) throw new Error("apiKey is required");
  const apiKey: Interceptor = (next) => (request) => {
    request.header.set("x-api-key", options.apiKey);
    return next(request);
  };
  const transport = createGrpcTransport({
    baseUrl: options.address,
    interceptors: [apiKey],
    defaultTimeoutMs: options.timeoutMs,
    nodeOptions: options.caFile ? { ca: readFileSync(options.caFile) } : undefined,
  });
  const messages = createClient(MessageService, transport);
  return {
    mailboxes: createClient(MailboxService, transport),
    authorization: createClient(AuthorizationService, transport),
    messages,
    streamMessages: (request, callOptions) => readMessages(framesOf(messages.streamMessages(request, callOptions))),
  };
}
