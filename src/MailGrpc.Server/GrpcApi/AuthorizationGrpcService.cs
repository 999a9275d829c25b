using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Callers;
using MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>
/// The gRPC face of token exchange: maps each request to <see cref="AuthorizationManager"/> in domain types
/// (<see cref="AuthorizationProtoMapper"/>) and the result back, nothing more.
/// </summary>
internal sealed class AuthorizationGrpcService(AuthorizationManager manager) : AuthorizationService.AuthorizationServiceBase
{
    public override async Task<BeginAuthorizationResponse> BeginAuthorization(BeginAuthorizationRequest request, ServerCallContext context) =>
        (await manager.BeginAsync(context.GetTenant(), request.MailboxId, request.RedirectUri, request.LoginHint, context.CancellationToken)).ToProto();

    public override async Task<CompleteAuthorizationResponse> CompleteAuthorization(CompleteAuthorizationRequest request, ServerCallContext context) =>
        new() { Status = (await manager.CompleteAsync(context.GetTenant(), request.ToDomain(), context.CancellationToken)).ToProto() };

    public override async Task StartDeviceAuthorization(StartDeviceAuthorizationRequest request, IServerStreamWriter<StartDeviceAuthorizationResponse> responseStream, ServerCallContext context)
    {
        await foreach (var deviceEvent in manager.StartDeviceAsync(context.GetTenant(), request.MailboxId, context.CancellationToken))
        {
            await responseStream.WriteAsync(deviceEvent.ToProto(), context.CancellationToken);
        }
    }

    public override async Task<AuthorizeWithClientCredentialsResponse> AuthorizeWithClientCredentials(AuthorizeWithClientCredentialsRequest request, ServerCallContext context) =>
        new() { Status = (await manager.ClientCredentialsAsync(context.GetTenant(), request.MailboxId, context.CancellationToken)).ToProto() };

    public override async Task<ImportRefreshTokenResponse> ImportRefreshToken(ImportRefreshTokenRequest request, ServerCallContext context) =>
        new() { Status = (await manager.ImportRefreshTokenAsync(context.GetTenant(), request.MailboxId, request.RefreshToken, context.CancellationToken)).ToProto() };

    public override async Task<SetMailboxPasswordResponse> SetMailboxPassword(SetMailboxPasswordRequest request, ServerCallContext context) =>
        new() { Status = (await manager.SetPasswordAsync(context.GetTenant(), request.ToDomain(), context.CancellationToken)).ToProto() };

    public override async Task<GetAuthorizationStatusResponse> GetAuthorizationStatus(GetAuthorizationStatusRequest request, ServerCallContext context) =>
        new() { Status = (await manager.GetStatusAsync(context.GetTenant(), request.MailboxId, context.CancellationToken)).ToProto() };

    public override async Task<RevokeAuthorizationResponse> RevokeAuthorization(RevokeAuthorizationRequest request, ServerCallContext context) =>
        (await manager.RevokeAsync(context.GetTenant(), request.MailboxId, context.CancellationToken)).ToProto();
}
