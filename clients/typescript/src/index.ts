export { createMailGrpcClient, type MailGrpcClient, type MailGrpcClientOptions } from "./client.js";
export { readMessages, framesOf, MessageIntegrityError, type ReceivedMessage } from "./messages.js";
export * from "./gen/mailgrpc/v1/mailbox_pb.js";
export * from "./gen/mailgrpc/v1/mailbox_service_pb.js";
export * from "./gen/mailgrpc/v1/authorization_service_pb.js";
export * from "./gen/mailgrpc/v1/message_service_pb.js";
