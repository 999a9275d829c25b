using MailGrpc.Server.Authorization;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Events;
using MailGrpc.Server.Webhooks;
using MailGrpc.Server.GrpcApi;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Messages;
using MailGrpc.Server.Network;
using MailGrpc.Server.Callers;
using MailGrpc.Server.Storage;
using MailGrpc.Server.Sync;
using MailGrpc.Server.Sync.Retention;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Hosting;

/// <summary>All of MailGrpc's dependency-injection wiring, in one place.</summary>
internal static class MailGrpcServiceCollectionExtensions
{
    public static WebApplicationBuilder AddMailGrpc(this WebApplicationBuilder builder)
    {
        var services = builder.Services;

        services.AddSingleton(TimeProvider.System);

        // Start-up: one line per configuration or binding error; each listening address labelled once bound.
        builder.Logging.AddStartupLogFilter();
        services.AddHostedService<StartupAnnouncement>();
        services.AddMailGrpcOptions(builder.Configuration);

        // Header limits large enough that an oversized API key is answered with a reason.
        builder.WebHost.ConfigureKestrel(options => RequestHeaderLimits.Apply(options.Limits));

        // The gRPC edge (GrpcApi/): services, interceptors, reflection, health service, method provider.
        services.AddMailGrpcApi();
        services.AddHealthChecks().AddCheck<StateStoreHealthCheck>("state-store");

        // Callers: ASP.NET Core authentication (API key → tenant claim) and authorization (CallerPolicy).
        services.AddMailGrpcCallers();

        // State.
        services.AddStateStore();

        // Mailboxes.
        services.AddSingleton<HostGuard>();
        services.AddSingleton<MailboxRepository>();
        services.AddSingleton<MailboxManager>();
        services.AddSingleton<MailboxReconciler>();
        services.AddHostedService(sp => sp.GetRequiredService<MailboxReconciler>());

        // Tokens, passwords and OAuth flows.
        services.AddMailGrpcAuthorization(builder.Configuration);

        // Operations: telemetry, log scopes, liveness, graceful shutdown, diagnostics.
        builder.AddMailGrpcOperations();

        // Messages (POP3 retrieval).
        services.AddMailGrpcMessages();

        // Sync engine and event producers (Sync/; docs/sync.md).
        services.AddMailGrpcSync();
        // Events and webhooks (issue #13): the tenant feed, SubscribeEvents, webhook endpoints and their delivery.
        services.AddMailGrpcEvents(builder.Configuration);
        services.AddMailGrpcWebhooks(builder.Configuration);
        services.AddMailGrpcRetention();

        return builder;
    }
}
