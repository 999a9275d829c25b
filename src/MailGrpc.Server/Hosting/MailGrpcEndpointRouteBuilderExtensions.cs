using MailGrpc.Server.Authorization.Flows;
using MailGrpc.Server.GrpcApi;

namespace MailGrpc.Server.Hosting;

/// <summary>Every endpoint MailGrpc serves.</summary>
internal static class MailGrpcEndpointRouteBuilderExtensions
{
    public static WebApplication MapMailGrpc(this WebApplication app)
    {
        app.MapMailGrpcOperations();
        app.MapMailGrpcApi();
        app.MapOAuthCallback();
        app.MapTestingCredentialEndpoint(app.Environment);
        app.MapUnknownPathPage();
        return app;
    }
}
