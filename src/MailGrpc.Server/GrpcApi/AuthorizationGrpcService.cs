using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Callers;
using MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>The gRPC face of token exchange: maps requests to <see cref="AuthorizationManager"/>, nothing more.</summary>
internal sealed class AuthorizationGrpcService(AuthorizationManager manager) : AuthorizationService.AuthorizationServiceBase
{
    public override Task<BeginAuthorizationResponse> BeginAuthorization(BeginAuthorizationRequest request, ServerCallContext context) =>
        manager.BeginAsync(context.GetTenant(), request, context.CancellationToken);

    public override async Task<CompleteAuthorizationResponse> CompleteAuthorization(CompleteAuthorizationRequest request, ServerCallContext context) =>
        new() { Status = await manager.CompleteAsync(context.GetTenant(), request.State, request.Code, request.Iss, request.CallbackUrl, context.CancellationToken) };

    public override Task StartDeviceAuthorization(StartDeviceAuthorizationRequest request, IServerStreamWriter<StartDeviceAuthorizationResponse> responseStream, ServerCallContext context) =>
        manager.StartDeviceAsync(context.GetTenant(), request, responseStream, context.CancellationToken);

    public override async Task<AuthorizeWithClientCredentialsResponse> AuthorizeWithClientCredentials(AuthorizeWithClientCredentialsRequest request, ServerCallContext context) =>
        new() { Status = await manager.ClientCredentialsAsync(context.GetTenant(), request, context.CancellationToken) };

    public override async Task<ImportRefreshTokenResponse> ImportRefreshToken(ImportRefreshTokenRequest request, ServerCallContext context) =>
        new() { Status = await manager.ImportRefreshTokenAsync(context.GetTenant(), request, context.CancellationToken) };

    public override async Task<SetMailboxPasswordResponse> SetMailboxPassword(SetMailboxPasswordRequest request, ServerCallContext context) =>
        new() { Status = await manager.SetPasswordAsync(context.GetTenant(), request, context.CancellationToken) };

    public override async Task<GetAuthorizationStatusResponse> GetAuthorizationStatus(GetAuthorizationStatusRequest request, ServerCallContext context) =>
        new() { Status = await manager.GetStatusAsync(context.GetTenant(), request, context.CancellationToken) };

    public override Task<RevokeAuthorizationResponse> RevokeAuthorization(RevokeAuthorizationRequest request, ServerCallContext context) =>
        manager.RevokeAsync(context.GetTenant(), request, context.CancellationToken);
}
