using System.Net.Security;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Network;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Webhooks;

internal static class WebhooksServiceCollectionExtensions
{
    /// <summary>Webhook endpoints, their delivery engine and its HTTP client (<c>MailGrpc:Webhooks</c>).</summary>
    public static IServiceCollection AddMailGrpcWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<WebhookOptions>().Bind(configuration.GetSection(WebhookOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>();
        services.TryAddSingleton<ExtraTrust>();
        services.AddSingleton<WebhookUrlGuard>();
        services.AddSingleton<WebhookMetrics>();
        services.AddSingleton<DeadLetterStore>();
        services.AddSingleton<WebhookManager>();
        services.AddSingleton<WebhookSender>();
        services.AddSingleton<WebhookDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());

        // No redirects (a 3xx is a failed attempt: following it would leave the guarded host), every connect through the
        // SSRF guard, no proxy from the environment (it would connect to the proxy, not the guarded address), no cookies.
        // No client loggers: they would log the URL (which may carry a token in its path or query) of every request.
        // TLS as for POP3 and OAuth: the system's roots, plus MailGrpc:Tls:ExtraTrustedCaFile (private PKI, on-premises
        // receivers); a certificate that chains to neither fails the attempt with last_error tls_failed.
        services.AddHttpClient(WebhookSender.HttpClientName)
            .RemoveAllLoggers()
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var guard = sp.GetRequiredService<WebhookUrlGuard>();
                var trust = sp.GetRequiredService<ExtraTrust>();
                return new SocketsHttpHandler
                {
                    SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = trust.Validate },
                    AllowAutoRedirect = false,
                    UseProxy = false,
                    UseCookies = false,
                    ConnectCallback = (context, cancellationToken) => guard.ConnectAsync(context.DnsEndPoint, cancellationToken),
                    PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                    MaxConnectionsPerServer = 64,
                };
            });
        return services;
    }
}
