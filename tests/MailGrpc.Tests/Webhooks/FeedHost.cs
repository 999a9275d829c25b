using MailGrpc.Server.Events;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace MailGrpc.Tests.Webhooks;

/// <summary>
/// The real server (in-process test host) on a real Redis for the event-feed and webhook tests: one fresh tenant, fast
/// retries and polls, loopback receivers allowed unless asked otherwise; events are appended through the server's own
/// <see cref="RedisEventLog"/>, as the sync engine does.
/// </summary>
public sealed class FeedHost : IAsyncDisposable
{
    private static readonly string EncryptionKey = Convert.ToBase64String(new byte[32].Select((_, i) => (byte)(i * 3 + 11)).ToArray());

    private FeedHost(MailGrpcTestHost host, TestTenant tenant)
    {
        Host = host;
        Tenant = tenant;
    }

    public MailGrpcTestHost Host { get; }

    public TestTenant Tenant { get; }

    public WebhookService.WebhookServiceClient Webhooks => new(Host.Invoker(Tenant.ApiKey));

    public EventService.EventServiceClient Events => new(Host.Invoker(Tenant.ApiKey));

    internal RedisEventLog Log => Host.Services.GetRequiredService<RedisEventLog>();

    public IConnectionMultiplexer Redis => Host.Services.GetRequiredService<IConnectionMultiplexer>();

    public static FeedHost Start(string redis, TestTenant? tenant = null, bool allowLoopback = true, IReadOnlyDictionary<string, string?>? extra = null)
    {
        tenant ??= TestTenant.Create("feed");
        var settings = MailGrpcTestHost.ApiKeySettings(tenant);
        settings["MailGrpc:Redis:Configuration"] = redis;
        settings["MailGrpc:Encryption:Keys:k1"] = EncryptionKey;
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        settings["MailGrpc:Webhooks:AllowInsecureLoopback"] = allowLoopback ? "true" : "false";
        settings["MailGrpc:Webhooks:InitialBackoff"] = "00:00:00.050";
        settings["MailGrpc:Webhooks:MaxBackoff"] = "00:00:00.300";
        settings["MailGrpc:Webhooks:RefreshInterval"] = "00:00:00.100";
        settings["MailGrpc:Webhooks:LeaseTime"] = "00:00:03";
        settings["MailGrpc:Webhooks:AttemptTimeout"] = "00:00:02";
        settings["MailGrpc:Events:PollInterval"] = "00:00:00.050";
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        return new FeedHost(new MailGrpcTestHost(settings), tenant);
    }

    /// <summary>Appends a <c>message.arrived</c> event for (mailbox, uid) and returns its id.</summary>
    public Task<string> ArriveAsync(string mailbox, int uid) =>
        Log.AppendAsync(Tenant.Name, new MailEvent("message.arrived", mailbox, DateTimeOffset.UtcNow, ArrivedData(mailbox, uid)), CancellationToken.None);

    public Task<string> RemoveAsync(string mailbox, int uid) =>
        Log.AppendAsync(Tenant.Name, new MailEvent("message.removed", mailbox, DateTimeOffset.UtcNow, $$"""{"mailbox_id":"{{mailbox}}","uid":"{{uid}}"}"""), CancellationToken.None);

    public static string ArrivedData(string mailbox, int uid) =>
        $$$"""{"mailbox_id":"{{{mailbox}}}","uid":"{{{uid}}}","size":{{{1000 + uid}}},"envelope":{"from":"a@example.com","to":"b@example.com","subject":"n{{{uid}}}","date":"","message_id":"{{{uid}}}@example.com"}}""";

    /// <summary>How many events the group has given out and not had acknowledged.</summary>
    public async Task<long> PendingAsync(string group) =>
        (await Redis.GetDatabase().StreamPendingAsync(EventLogKeys.Stream(Tenant.Name), group)).PendingMessageCount;

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Stream ids compared as (milliseconds, sequence).</summary>
public static class StreamIds
{
    public static (long Ms, long Seq) Parse(string id)
    {
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        return (long.Parse(id[..dash], System.Globalization.CultureInfo.InvariantCulture), long.Parse(id[(dash + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    public static int Compare(string a, string b) => Parse(a).CompareTo(Parse(b));
}
