using Grpc.AspNetCore.HealthChecks;
using Grpc.AspNetCore.Server;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using MailGrpc.Server.Telemetry;

namespace MailGrpc.Server.Hosting;

/// <summary>What operators need: telemetry, log scopes, liveness, graceful shutdown, diagnostics.</summary>
internal static class OperationsServiceCollectionExtensions
{
    /// <summary>The gRPC health service name that reports SERVING while the process answers (liveness); "" includes Redis (readiness).</summary>
    public const string LivenessService = "liveness";

    public static WebApplicationBuilder AddMailGrpcOperations(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        builder.AddMailGrpcTelemetry();

        // Innermost interceptor: runs after authentication, so the scope has the tenant.
        services.AddSingleton<LogScopeInterceptor>();
        services.Configure<GrpcServiceOptions>(o => o.Interceptors.Add<LogScopeInterceptor>());

        // Innermost of all: streams see a cancellation token that also fires shortly before DrainTimeout (clean drains).
        services.AddSingleton<ServerDrain>();
        services.AddHostedService(sp => sp.GetRequiredService<ServerDrain>());
        services.AddSingleton<DrainInterceptor>();
        services.Configure<GrpcServiceOptions>(o => o.Interceptors.Add<DrainInterceptor>());

        // A Redis outage must make pods unready, not restart them all: liveness runs no dependency checks.
        services.AddHealthChecks().AddCheck("process", () => HealthCheckResult.Healthy(), tags: [LivenessService]);
        services.Configure<GrpcHealthChecksOptions>(o => o.Services.Map(LivenessService, check => check.Tags.Contains(LivenessService)));

        services.AddSingleton<MailboxDiagnostics>();

        // Graceful shutdown: on SIGTERM Kestrel stops accepting, running calls (streams) get up to DrainTimeout to finish;
        // shortly before it, open streams end with UNAVAILABLE SERVER_DRAINING (ServerDrain; their finally blocks release
        // leases), and OpenTelemetry flushes as the host disposes it.
        services.AddOptions<HostOptions>().Configure<IOptions<ShutdownOptions>>((host, shutdown) => host.ShutdownTimeout = shutdown.Value.DrainTimeout);

        return builder;
    }

    public static WebApplication MapMailGrpcOperations(this WebApplication app)
    {
        app.MapMailGrpcTelemetry();
        return app;
    }
}
