using Grpc.AspNetCore.HealthChecks;
using Grpc.AspNetCore.Server.Model;
using MailGrpc.Server.Callers;
using MailGrpc.Server.GrpcApi.Endpoints;
using MailGrpc.Server.GrpcApi.Interceptors;
using MailGrpc.Server.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MailGrpc.Server.GrpcApi;

/// <summary>
/// The gRPC edge's wiring, called from the one DI table (<c>Hosting/MailGrpcServiceCollectionExtensions</c>): grpc-dotnet,
/// the interceptors in their order, the guarded method provider, reflection and the gRPC health service. Everything here
/// speaks gRPC; the core it calls does not.
/// </summary>
internal static class GrpcApiServiceCollectionExtensions
{
    public static IServiceCollection AddMailGrpcApi(this IServiceCollection services)
    {
        // Interceptors, outermost first: errors are mapped by the outermost; callers were authenticated before gRPC runs
        // (ASP.NET Core authentication, Callers/), so the log scope has the tenant; innermost of all, streams see a cancellation token
        // that also fires shortly before DrainTimeout (clean drains).
        services.AddGrpc(options =>
        {
            options.Interceptors.Add<ErrorInterceptor>();
            options.Interceptors.Add<LogScopeInterceptor>();
            options.Interceptors.Add<DrainInterceptor>();
            options.EnableDetailedErrors = false;
        });
        services.AddSingleton<ErrorInterceptor>();
        services.AddSingleton<LogScopeInterceptor>();
        services.AddSingleton<DrainInterceptor>();
        services.AddMailGrpcReflection();

        // grpc.health.v1 over the health checks: "" is readiness (all checks, Redis included), "liveness" only the process.
        services.AddGrpcHealthChecks();
        services.Configure<GrpcHealthChecksOptions>(o => o.Services.Map(OperationsServiceCollectionExtensions.LivenessService, check => check.Tags.Contains(OperationsServiceCollectionExtensions.LivenessService)));

        // Undecodable request bodies → INVALID_ARGUMENT with a reason (grpc-dotnet would say UNKNOWN): every service is
        // bound by our provider, which guards the request marshaller, instead of grpc-dotnet's default one (after every
        // AddGrpc* call, which would add the default again).
        services.RemoveAll(typeof(IServiceMethodProvider<>));
        services.AddSingleton(typeof(IServiceMethodProvider<>), typeof(GuardedServiceMethodProvider<>));
        return services;
    }

    public static WebApplication MapMailGrpcApi(this WebApplication app)
    {
        // The MailGrpc services require an authenticated caller; health and reflection stay open.
        app.MapGrpcService<MailboxGrpcService>().RequireAuthorization(CallerPolicy.Name);
        app.MapGrpcService<AuthorizationGrpcService>().RequireAuthorization(CallerPolicy.Name);
        app.MapGrpcService<MessageGrpcService>().RequireAuthorization(CallerPolicy.Name);
        app.MapGrpcService<EventGrpcService>().RequireAuthorization(CallerPolicy.Name);
        app.MapGrpcService<WebhookGrpcService>().RequireAuthorization(CallerPolicy.Name);
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        return app;
    }
}
