using MailGrpc.Server.Authorization.Flows;
using MailGrpc.Server.Callers;
using MailGrpc.Server.GrpcApi;
using MailGrpc.Server.GrpcApi.Framing;

namespace MailGrpc.Server.Hosting;

/// <summary>Every endpoint MailGrpc serves.</summary>
internal static class MailGrpcEndpointRouteBuilderExtensions
{
    public static WebApplication MapMailGrpc(this WebApplication app)
    {
        // Callers: the MailGrpc services require an authenticated caller (CallerPolicy); health, reflection, the OAuth
        // callback and metrics stay open.
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseMailGrpcRequestFraming();

        app.MapMailGrpcOperations();
        app.MapMailGrpcApi();
        app.MapOAuthCallback();
        app.MapTestingCredentialEndpoint(app.Environment);
        app.MapUnknownPathPage();
        return app;
    }
}
