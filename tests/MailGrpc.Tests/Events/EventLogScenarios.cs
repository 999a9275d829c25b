using MailGrpc.Server.Events;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace MailGrpc.Tests.Events;

/// <summary>The event-log behaviours, run against one Redis and against the rig's Redis Cluster.</summary>
internal static class EventLogScenarios
{
    private static MailEvent Arrived(string mailbox, int uid) =>
        new("message.arrived", mailbox, DateTimeOffset.FromUnixTimeSeconds(1_796_601_600 + uid), $$"""{"uid":"{{uid}}","size":{{1000 + uid}}}""");

    public static string NewTenant() => "t" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>
    /// Two consumers of one group share the events (each exactly once); a second group sees them all; acknowledged
    /// events are no longer pending; a consumer that reconnects gets its unacknowledged events back; after the
    /// visibility timeout a live consumer takes over a stopped one's pending events, and none is lost.
    /// </summary>
    public static async Task ConsumerGroupsShareAcknowledgeResumeAndTakeOverAsync(IConnectionMultiplexer redis)
    {
        var log = new RedisEventLog(redis, TimeProvider.System, EventLogSettings.Default);
        var tenant = NewTenant();
        var ct = CancellationToken.None;
        Assert.True(await log.EnsureGroupAsync(tenant, "billing", fromBeginning: true, ct));
        Assert.False(await log.EnsureGroupAsync(tenant, "billing", fromBeginning: true, ct));
        Assert.True(await log.EnsureGroupAsync(tenant, "audit", fromBeginning: true, ct));

        var appended = new List<string>();
        for (var uid = 1; uid <= 5; uid++) appended.Add(await log.AppendAsync(tenant, Arrived("mbx_a", uid), ct));
        Assert.Equal(appended.Order(StringComparer.Ordinal).Count(), appended.Distinct().Count());

        var first = await log.ReadNewAsync(tenant, "billing", "instance-1", 3, ct);
        var second = await log.ReadNewAsync(tenant, "billing", "instance-2", 10, ct);
        Assert.Equal(3, first.Count);
        Assert.Equal(2, second.Count);
        Assert.Equal(appended, first.Concat(second).Select(e => e.Id));              // each event once, in order
        Assert.Empty(await log.ReadNewAsync(tenant, "billing", "instance-2", 10, ct));
        Assert.Equal(appended, (await log.ReadNewAsync(tenant, "audit", "auditor", 10, ct)).Select(e => e.Id)); // another group sees all
        Assert.Equal(Arrived("mbx_a", 1), first[0].Event);

        Assert.Equal(2, await log.AcknowledgeAsync(tenant, "billing", second.Select(e => e.Id).ToList(), ct));
        Assert.Equal(0, await log.AcknowledgeAsync(tenant, "billing", second.Select(e => e.Id).ToList(), ct)); // once only
        Assert.Equal(1, await log.AcknowledgeAsync(tenant, "billing", [first[0].Id], ct));

        // instance-1 reconnects under its name: its two unacknowledged events come back first.
        Assert.Equal(first.Skip(1).Select(e => e.Id), (await log.ReadPendingAsync(tenant, "billing", "instance-1", 10, ct)).Select(e => e.Id));

        // instance-1 stops. Before the visibility timeout nobody can take its events ...
        Assert.Empty(await log.ClaimExpiredAsync(tenant, "billing", "instance-2", TimeSpan.FromHours(1), 10, ct));
        // ... once they have been idle that long, instance-2 takes them over (waiting on Redis's idle time, not a sleep).
        var timeout = TimeSpan.FromMilliseconds(300);
        await WaitUntilAsync(async () => (await redis.GetDatabase().StreamPendingMessagesAsync(EventLogKeys.Stream(tenant), "billing", 10, "instance-1"))
            .All(p => p.IdleTimeInMilliseconds >= timeout.TotalMilliseconds));
        var claimed = await log.ClaimExpiredAsync(tenant, "billing", "instance-2", timeout, 10, ct);
        Assert.Equal(first.Skip(1).Select(e => e.Id), claimed.Select(e => e.Id));
        Assert.Equal(first.Skip(1).Select(e => e.Event), claimed.Select(e => e.Event));
        Assert.Empty(await log.ReadPendingAsync(tenant, "billing", "instance-1", 10, ct));
        Assert.Equal(2, await log.AcknowledgeAsync(tenant, "billing", claimed.Select(e => e.Id).ToList(), ct));
        Assert.Equal(0, (await redis.GetDatabase().StreamPendingAsync(EventLogKeys.Stream(tenant), "billing")).PendingMessageCount);

        await redis.GetDatabase().KeyDeleteAsync(EventLogKeys.Stream(tenant));
    }

    /// <summary>Appending trims events older than the retention (MINID on the entry ids' ms) and past the length cap.</summary>
    public static async Task AppendTrimsByRetentionAndLengthAsync(IConnectionMultiplexer redis)
    {
        var db = redis.GetDatabase();
        var tenant = NewTenant();
        var key = EventLogKeys.Stream(tenant);
        var ct = CancellationToken.None;
        var real = new RedisEventLog(redis, TimeProvider.System, new EventLogSettings(TimeSpan.FromDays(1), ApproximateTrim: false));
        var oldest = await real.AppendAsync(tenant, Arrived("mbx_a", 1), ct);
        // The next entry must get a later millisecond: wait on Redis's clock (bounded), not a fixed sleep.
        await WaitUntilAsync(async () => (await db.ExecuteAsync("TIME")) is var t && Ms(t) > long.Parse(oldest.Split('-')[0], System.Globalization.CultureInfo.InvariantCulture));
        var kept = await real.AppendAsync(tenant, Arrived("mbx_a", 2), ct);
        Assert.Equal(2, await db.StreamLengthAsync(key));

        // A clock one retention past the second entry: appending drops the first (older), keeps the second.
        var keptMs = long.Parse(kept.Split('-')[0], System.Globalization.CultureInfo.InvariantCulture);
        var later = new FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(keptMs) + TimeSpan.FromDays(1));
        var newest = await new RedisEventLog(redis, later, new EventLogSettings(TimeSpan.FromDays(1), ApproximateTrim: false)).AppendAsync(tenant, Arrived("mbx_a", 3), ct);
        Assert.Equal([kept, newest], (await db.StreamRangeAsync(key)).Select(e => e.Id.ToString()));

        // The length cap on top of the retention.
        var capped = new RedisEventLog(redis, TimeProvider.System, new EventLogSettings(TimeSpan.FromDays(1), MaxEntries: 2, ApproximateTrim: false));
        var last = await capped.AppendAsync(tenant, Arrived("mbx_a", 4), ct);
        Assert.Equal([newest, last], (await db.StreamRangeAsync(key)).Select(e => e.Id.ToString()));

        await db.KeyDeleteAsync(key);
    }

    private static long Ms(RedisResult time)
    {
        var parts = (RedisResult[])time!;
        return (long.Parse((string)parts[0]!, System.Globalization.CultureInfo.InvariantCulture) * 1000) + (long.Parse((string)parts[1]!, System.Globalization.CultureInfo.InvariantCulture) / 1000);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        // A condition wait: polls every 10 ms, fails after 10 s.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await poll.WaitForNextTickAsync();
        }
    }
}
