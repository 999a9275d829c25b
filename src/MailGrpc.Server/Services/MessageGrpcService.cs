using MailGrpc.V1;

namespace MailGrpc.Server.Services;

/// <summary>POP3 retrieval. Until implemented, every RPC answers UNIMPLEMENTED.</summary>
internal sealed class MessageGrpcService : MessageService.MessageServiceBase;
