export { createMailGrpcClient, type CallOptions, type MailGrpcClient, type MailGrpcClientOptions } from "./client.js";
export { readMessages, framesOf, MessageIntegrityError, type ReceivedMessage } from "./messages.js";
export { mailGrpcError, hasReason, type MailGrpcErrorInfo } from "./errors.js";
export { DEFAULT_RETRY_POLICY, IDEMPOTENT_READS, retryInterceptor, unaryDeadlineInterceptor, type RetryPolicy } from "./retry.js";
export { Code, ConnectError } from "@connectrpc/connect";
export * from "./gen/mailgrpc/v1/mailbox_pb.js";
export * from "./gen/mailgrpc/v1/mailbox_service_pb.js";
export * from "./gen/mailgrpc/v1/authorization_service_pb.js";
export * from "./gen/mailgrpc/v1/message_service_pb.js";
export * from "./gen/mailgrpc/v1/error_reason_pb.js";
export { ErrorInfoSchema, type ErrorInfo } from "./gen/google/rpc/error_details_pb.js";
export {
  verifyWebhook,
  WebhookVerificationError,
  DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  WEBHOOK_ID_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  type WebhookEvent,
  type WebhookVerificationErrorCode,
  type VerifyWebhookOptions,
} from "./webhooks.js";
