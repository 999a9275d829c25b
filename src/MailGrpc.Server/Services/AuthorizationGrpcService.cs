using MailGrpc.V1;

namespace MailGrpc.Server.Services;

/// <summary>Token exchange. Until implemented, every RPC answers UNIMPLEMENTED.</summary>
internal sealed class AuthorizationGrpcService : AuthorizationService.AuthorizationServiceBase;
