using MailGrpc.Server.Configuration;
using MailGrpc.Server.Events;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MailGrpc.Server.Sync;

internal static class SyncServiceCollectionExtensions
{
    /// <summary>
    /// The sync engine and the event producers (options <c>MailGrpc:Sync</c> are bound with the others): the schedule and sync state (Redis, or
    /// process memory with the embedded store), the event sink (the tenant's Redis Stream; discarded with the embedded
    /// store), the watch demand and published listings (WatchMessages on the engine, Redis only), the change feed the registry calls, the engine (it returns at once unless <c>Sync:Enabled</c>) and its
    /// readiness check.
    /// </summary>
    public static IServiceCollection AddMailGrpcSync(this IServiceCollection services)
    {
        // The event log itself is registered by AddMailGrpcEvents (MailGrpc:Events: retention, cap).
        services.AddSingleton<SyncMetrics>();
        services.AddSingleton<IMailEventSink>(sp => UsesRedis(sp)
            ? new RedisMailEventSink(sp.GetRequiredService<RedisEventLog>(), sp.GetRequiredService<SyncMetrics>())
            : new DiscardingMailEventSink());
        services.AddSingleton<ISyncScheduleStore>(sp => UsesRedis(sp)
            ? new RedisSyncScheduleStore(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<IOptions<SyncOptions>>().Value.Schedule)
            : new InMemorySyncScheduleStore());
        services.AddSingleton<ISyncStateStore>(sp => UsesRedis(sp)
            ? new RedisSyncStateStore(sp.GetRequiredService<IConnectionMultiplexer>())
            : new InMemorySyncStateStore());
        services.AddSingleton(sp => new WatchDemand(
            sp.GetRequiredService<ISyncScheduleStore>(),
            UsesRedis(sp) ? new RedisWatchListingStore(sp.GetRequiredService<IConnectionMultiplexer>()) : null,
            sp.GetRequiredService<IOptions<SyncOptions>>(),
            sp.GetRequiredService<IOptions<Pop3Options>>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<SyncSchedule>();
        services.AddSingleton<MailboxChangeFeed>();
        services.AddSingleton<SyncPoller>();
        services.AddSingleton<SyncEngine>();
        services.AddHostedService(sp => sp.GetRequiredService<SyncEngine>());
        services.AddHealthChecks().AddCheck<SyncLagHealthCheck>("sync-lag");
        return services;
    }

    private static bool UsesRedis(IServiceProvider services) =>
        !string.IsNullOrWhiteSpace(services.GetRequiredService<IOptions<RedisOptions>>().Value.Configuration);
}
