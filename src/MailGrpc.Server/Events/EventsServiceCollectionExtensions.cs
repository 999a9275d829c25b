using MailGrpc.Server.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MailGrpc.Server.Events;

internal static class EventsServiceCollectionExtensions
{
    /// <summary>The tenant event log (<c>MailGrpc:Events</c>) and SubscribeEvents' core.</summary>
    public static IServiceCollection AddMailGrpcEvents(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<EventOptions>().Bind(configuration.GetSection(EventOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EventOptions>, EventOptionsValidator>();
        // The one registration of the log: the sync engine appends to it, the feed and the webhook workers read it.
        services.AddSingleton(sp =>
        {
            var settings = sp.GetRequiredService<IOptions<EventOptions>>().Value;
            return new RedisEventLog(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<TimeProvider>(), new EventLogSettings(settings.Retention, settings.MaxEntries));
        });
        services.TryAddSingleton(sp => new Lazy<RedisEventLog>(sp.GetRequiredService<RedisEventLog>));
        services.TryAddSingleton(sp => new Lazy<IConnectionMultiplexer>(sp.GetRequiredService<IConnectionMultiplexer>));
        services.AddSingleton<EventFeed>();
        return services;
    }
}
