using MailGrpc.Server.Configuration;
using StackExchange.Redis;

namespace MailGrpc.Server.Storage;

internal static partial class StorageServiceCollectionExtensions
{
    /// <summary>Redis when <c>MailGrpc:Redis:Configuration</c> is set (one shared multiplexer), else the embedded store.</summary>
    public static IServiceCollection AddStateStore(this IServiceCollection services, IConfiguration configuration)
    {
        var redisConfiguration = configuration.GetSection(MailGrpcOptions.SectionName).GetSection("Redis")["Configuration"];
        if (string.IsNullOrWhiteSpace(redisConfiguration))
        {
            services.AddSingleton<IStateStore, InMemoryStateStore>();
            services.AddHostedService<EmbeddedStoreWarning>();
            return services;
        }

        services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var options = ConfigurationOptions.Parse(redisConfiguration);
            // Keep retrying in the background so the server comes up (NOT_SERVING) before Redis does.
            options.AbortOnConnectFail = false;
            return ConnectionMultiplexer.Connect(options);
        });
        services.AddSingleton<IStateStore, RedisStateStore>();
        return services;
    }

    private sealed partial class EmbeddedStoreWarning(ILogger<EmbeddedStoreWarning> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            LogEmbedded(logger);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Warning, Message = "MailGrpc:Redis:Configuration is empty: using the EMBEDDED in-process store. DEVELOPMENT ONLY — state is lost at exit and replicas cannot share it.")]
        private static partial void LogEmbedded(ILogger logger);
    }
}
