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

        // Log scopes and stream drains are gRPC interceptors (GrpcApi/Interceptors); the drain's clock lives here.
        services.AddSingleton<ServerDrain>();
        services.AddHostedService(sp => sp.GetRequiredService<ServerDrain>());

        // A Redis outage must make pods unready, not restart them all: liveness runs no dependency checks.
        services.AddHealthChecks().AddCheck("process", () => HealthCheckResult.Healthy(), tags: [LivenessService]);

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
