using MailGrpc.Server.Authorization.Flows;
using MailGrpc.Server.GrpcApi;

namespace MailGrpc.Server.Hosting;

/// <summary>Every endpoint MailGrpc serves.</summary>
internal static class MailGrpcEndpointRouteBuilderExtensions
{
    public static WebApplication MapMailGrpc(this WebApplication app)
    {
        app.MapMailGrpcOperations();
        app.MapGrpcService<MailboxGrpcService>();
        app.MapGrpcService<AuthorizationGrpcService>();
        app.MapGrpcService<MessageGrpcService>();
        app.MapOAuthCallback();
        app.MapTestingCredentialEndpoint(app.Environment);
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapUnknownPathPage();
        return app;
    }
}
