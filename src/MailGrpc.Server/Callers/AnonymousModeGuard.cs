using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace MailGrpc.Server.Callers;

/// <summary>
/// With no API keys configured MailGrpc accepts anonymous callers, which is safe only when nothing but this machine can
/// reach it. Once Kestrel has bound its addresses this checks them and stops the server if any is not loopback.
/// </summary>
internal sealed partial class AnonymousModeGuard(
    ApiKeyAuthenticator authenticator,
    IServer server,
    IHostApplicationLifetime lifetime,
    ILogger<AnonymousModeGuard> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(Check);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Check()
    {
        if (!authenticator.IsAnonymousMode)
        {
            return;
        }

        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var exposed = addresses.Where(a => !IsLoopback(a)).ToArray();
        if (exposed.Length > 0)
        {
            LogRefusingAnonymous(logger, exposed);
            // A configuration error like any other at start: one line with the fix, and the documented exit code.
            Console.Error.WriteLine($"{Hosting.StartupFailure.Prefix} MailGrpc:ApiKeys is empty and the server listens on {string.Join(", ", exposed)}, which is not loopback. Fix: configure MailGrpc:ApiKeys (see docs/configuration.md), or listen on 127.0.0.1 only.");
            Environment.ExitCode = Hosting.StartupFailure.ConfigurationError;
            lifetime.StopApplication();
            return;
        }

        LogAnonymousMode(logger);
    }

    internal static bool IsLoopback(string address)
    {
        if (!Uri.TryCreate(address.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "No API keys are configured: anonymous callers are accepted (tenant 'default') because MailGrpc listens on loopback only. Configure MailGrpc:ApiKeys before exposing it.")]
    private static partial void LogAnonymousMode(ILogger logger);

    [LoggerMessage(Level = LogLevel.Critical, Message = "No API keys are configured and MailGrpc listens on a non-loopback address ({Addresses}); refusing to serve anonymous callers. Configure MailGrpc:ApiKeys.")]
    private static partial void LogRefusingAnonymous(ILogger logger, string[] addresses);
}
