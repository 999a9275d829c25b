using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MailGrpc.Server.Sync.Retention;

internal static class RetentionServiceCollectionExtensions
{
    /// <summary>Retention policies: the clock (Redis, or process memory with the embedded store) and the pass the sync poll runs.</summary>
    public static IServiceCollection AddMailGrpcRetention(this IServiceCollection services)
    {
        services.AddSingleton<IRetentionClockStore>(sp => string.IsNullOrWhiteSpace(sp.GetRequiredService<IOptions<RedisOptions>>().Value.Configuration)
            ? new InMemoryRetentionClockStore()
            : new RedisRetentionClockStore(sp.GetRequiredService<IConnectionMultiplexer>()));
        services.AddSingleton<RetentionPass>();
        return services;
    }
}
