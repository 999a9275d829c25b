using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MailGrpc.Server.Storage;

internal static partial class StorageServiceCollectionExtensions
{
    /// <summary>
    /// Redis when <c>MailGrpc:Redis:Configuration</c> is set (one shared multiplexer), else the embedded store. Chosen when
    /// first resolved, from the bound options, so every configuration source counts.
    /// </summary>
    public static IServiceCollection AddStateStore(this IServiceCollection services)
    {
        services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var configuration = sp.GetRequiredService<IOptions<RedisOptions>>().Value.Configuration;
            var options = ConfigurationOptions.Parse(configuration!);
            // Keep retrying in the background so the server comes up (NOT_SERVING) before Redis does.
            options.AbortOnConnectFail = false;
            // A command that finds no connection fails at once (STORE_UNAVAILABLE, retryable) instead of waiting in the
            // backlog to be replayed after a reconnect: a write whose caller was already told UNAVAILABLE (or whose deadline
            // passed) must not land seconds later, behind the caller's retry — in a failover that could undo a delete.
            options.BacklogPolicy = BacklogPolicy.FailFast;
            return ConnectionMultiplexer.Connect(options);
        });
        services.AddSingleton<IStateStore>(sp =>
            string.IsNullOrWhiteSpace(sp.GetRequiredService<IOptions<RedisOptions>>().Value.Configuration)
                ? new InMemoryStateStore(sp.GetRequiredService<TimeProvider>())
                : new RedisStateStore(
                    sp.GetRequiredService<IConnectionMultiplexer>(),
                    sp.GetRequiredService<IOptions<RedisOptions>>().Value,
                    sp.GetRequiredService<ILogger<RedisStateStore>>()));
        services.AddHostedService<StoreAnnouncement>();
        return services;
    }

    private sealed partial class StoreAnnouncement(IStateStore store, ILogger<StoreAnnouncement> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (store.IsEmbedded)
            {
                LogEmbedded(logger);
            }
            else
            {
                LogRedis(logger);
            }

            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Warning, Message = "MailGrpc:Redis:Configuration is empty: using the EMBEDDED in-process store. DEVELOPMENT ONLY — state is lost at exit and replicas cannot share it.")]
        private static partial void LogEmbedded(ILogger logger);

        [LoggerMessage(Level = LogLevel.Information, Message = "State store: Redis.")]
        private static partial void LogRedis(ILogger logger);
    }
}
