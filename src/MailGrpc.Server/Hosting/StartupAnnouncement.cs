using MailGrpc.Server.Authorization.Flows;
using MailGrpc.Server.Configuration;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Hosting;

/// <summary>
/// Says what each listening address is for once Kestrel has bound them (gRPC API, OAuth browser callback, Prometheus
/// metrics) and, in Development, where to go next. Also marks the start as done, so <see cref="StartupLogFilter"/> lets
/// the host's own error logs through again.
/// </summary>
internal sealed partial class StartupAnnouncement(
    IServer server,
    IConfiguration configuration,
    IHostEnvironment environment,
    IHostApplicationLifetime lifetime,
    IOptions<TelemetryOptions> options,
    ILogger<StartupAnnouncement> logger) : IHostedService
{
    public const string WalkthroughPath = "docs/getting-started.md";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(Announce);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Announce()
    {
        StartupLogFilter.Started = true;
        var bound = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
        {
            var url = Bound(endpoint["Url"], bound);
            if (url is null)
            {
                continue;
            }

            switch (endpoint.Key)
            {
                case "Grpc":
                    LogGrpc(logger, url);
                    break;
                case "Web":
                    var callback = url.TrimEnd('/') + OAuthCallbackEndpoint.Path;
                    LogWeb(logger, callback);
                    break;
                case "Metrics":
                    var scrape = url.TrimEnd('/') + options.Value.PrometheusPath;
                    LogMetrics(logger, scrape);
                    break;
                default:
                    LogOther(logger, endpoint.Key, url);
                    break;
            }
        }

        if (environment.IsDevelopment())
        {
            LogNextStep(logger, WalkthroughPath);
        }
    }

    /// <summary>The bound address for a configured URL (port 0 becomes the real port); null when nothing is configured.</summary>
    private static string? Bound(string? configured, ICollection<string> bound)
    {
        if (string.IsNullOrEmpty(configured))
        {
            return null;
        }

        var trimmed = configured.TrimEnd('/');
        return bound.FirstOrDefault(a => string.Equals(a.TrimEnd('/'), trimmed, StringComparison.OrdinalIgnoreCase)) ?? trimmed;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "gRPC API (MailboxService, AuthorizationService, MessageService, EventService, WebhookService, health, reflection): {Url}")]
    private static partial void LogGrpc(ILogger logger, string url);

    [LoggerMessage(Level = LogLevel.Information, Message = "OAuth browser callback (the RedirectUri your OAuth clients register): {Url}")]
    private static partial void LogWeb(ILogger logger, string url);

    [LoggerMessage(Level = LogLevel.Information, Message = "Prometheus metrics: {Url}")]
    private static partial void LogMetrics(ILogger logger, string url);

    [LoggerMessage(Level = LogLevel.Information, Message = "Kestrel endpoint {Name}: {Url}")]
    private static partial void LogOther(ILogger logger, string name, string url);

    [LoggerMessage(Level = LogLevel.Information, Message = "Next step: {Path} walks from here to a streamed, acknowledged message on the local test rig.")]
    private static partial void LogNextStep(ILogger logger, string path);
}

/// <summary>
/// Until the server has started, the host's "Hosting failed to start" error (which carries the whole stack trace) is
/// not logged: <see cref="StartupFailure"/> prints one line instead. Critical events (a background service stopping
/// the host) always pass.
/// </summary>
internal static class StartupLogFilter
{
    public const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";

    public const string LifetimeCategory = "Microsoft.Hosting.Lifetime";

    public static volatile bool Started;

    /// <summary>Set when the start failed and the host is being stopped: its "shutting down" line would only confuse.</summary>
    public static volatile bool Failed;

    // Rules for the host's categories only, so every other category keeps its configured levels.
    public static ILoggingBuilder AddStartupLogFilter(this ILoggingBuilder logging) =>
        logging
            .AddFilter(HostCategory, level => level >= LogLevel.Information && (Started || level >= LogLevel.Critical))
            .AddFilter(LifetimeCategory, level => level >= LogLevel.Information && !Failed);
}
