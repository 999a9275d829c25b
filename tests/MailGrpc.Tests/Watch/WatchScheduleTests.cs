using MailGrpc.Server.Configuration;
using MailGrpc.Server.Sync;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Sync;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace MailGrpc.Tests.Watch;

/// <summary>
/// The watch demand in the engine's schedule, the same rules on both stores: a new demand makes a mailbox due within an
/// interval, a renewal never moves a claimed entry, a poll keeps a watched mailbox due at the watch interval (or its sync
/// time if sooner) and drops it once every demand lapsed, and turning sync off leaves a watched mailbox scheduled.
/// </summary>
internal static class WatchScheduleScenarios
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);

    public static async Task DemandKeepsAWatchedMailboxDueAtTheWatchIntervalAsync(ISyncScheduleStore store, Func<int, string, Task<DateTimeOffset?>> dueAt)
    {
        const string member = "tenant:watched";
        const int shard = 1;

        // A new demand: not scheduled before, due by t0 + 1 s now; the watch lasts until t0 + 3 s.
        Assert.False(await store.IsWatchedAsync(shard, member, T0, default));
        await store.DemandWatchAsync(shard, member, T0.AddSeconds(3), T0, T0.AddSeconds(1), default);
        Assert.Equal(T0.AddSeconds(1), await dueAt(shard, member));
        Assert.True(await store.IsWatchedAsync(shard, member, T0.AddSeconds(2), default));
        Assert.False(await store.IsWatchedAsync(shard, member, T0.AddSeconds(3), default));

        // Claimed (re-scored to the claim deadline): a renewal by another replica does not move it earlier, so no second
        // replica can claim it while the first polls.
        var claimed = Assert.Single(await store.ClaimAsync(shard, T0.AddSeconds(1), T0.AddSeconds(60), 10, default));
        Assert.Equal(member, claimed.Member);
        await store.DemandWatchAsync(shard, member, T0.AddSeconds(4), T0.AddSeconds(1), T0.AddSeconds(2), default);
        Assert.Equal(T0.AddSeconds(60), await dueAt(shard, member));

        // A renewal never shortens the demand.
        await store.DemandWatchAsync(shard, member, T0.AddSeconds(2), T0.AddSeconds(1), T0.AddSeconds(2), default);
        Assert.True(await store.IsWatchedAsync(shard, member, T0.AddSeconds(3.5), default));

        // The poll ends: watched, so due at the watch time even without sync; with sync, whichever comes first.
        Assert.True(await store.FinishPollAsync(shard, member, null, T0.AddSeconds(2), T0.AddSeconds(3), default));
        Assert.Equal(T0.AddSeconds(3), await dueAt(shard, member));
        Assert.True(await store.FinishPollAsync(shard, member, T0.AddSeconds(2.5), T0.AddSeconds(2), T0.AddSeconds(3), default));
        Assert.Equal(T0.AddSeconds(2.5), await dueAt(shard, member));
        Assert.True(await store.FinishPollAsync(shard, member, T0.AddSeconds(60), T0.AddSeconds(2), T0.AddSeconds(3), default));
        Assert.Equal(T0.AddSeconds(3), await dueAt(shard, member));

        // Sync turned off while watched: it stays scheduled.
        await store.RemoveUnlessWatchedAsync(shard, member, T0.AddSeconds(2), default);
        Assert.Equal(T0.AddSeconds(3), await dueAt(shard, member));

        // Every demand lapsed (the replicas left or died): a poll with sync due keeps only the sync time; without, it leaves.
        Assert.True(await store.FinishPollAsync(shard, member, T0.AddSeconds(90), T0.AddSeconds(5), T0.AddSeconds(6), default));
        Assert.Equal(T0.AddSeconds(90), await dueAt(shard, member));
        Assert.False(await store.IsWatchedAsync(shard, member, T0, default)); // the lapsed demand itself is gone
        Assert.False(await store.FinishPollAsync(shard, member, null, T0.AddSeconds(5), T0.AddSeconds(6), default));
        Assert.Null(await dueAt(shard, member));

        // A demand that comes back after lapsing is new again: it moves a far sync time earlier.
        await store.UpsertAsync(shard, member, T0.AddSeconds(300), default);
        await store.DemandWatchAsync(shard, member, T0.AddSeconds(20), T0.AddSeconds(10), T0.AddSeconds(11), default);
        Assert.Equal(T0.AddSeconds(11), await dueAt(shard, member));

        // A mailbox deleted while a poll ran is not put back by the poll's end, watched or not.
        await store.RemoveAsync(shard, member, default);
        Assert.True(await store.FinishPollAsync(shard, member, null, T0.AddSeconds(12), T0.AddSeconds(13), default));
        Assert.Null(await dueAt(shard, member));

        // Not watched: turning sync off removes it.
        const string plain = "tenant:plain";
        await store.UpsertAsync(shard, plain, T0, default);
        await store.RemoveUnlessWatchedAsync(shard, plain, T0, default);
        Assert.Null(await dueAt(shard, plain));
    }
}

[Trait("Layer", "Fast")]
public sealed class WatchScheduleFastTests
{
    [Fact]
    public Task A_watch_demand_keeps_a_mailbox_due_at_the_watch_interval_in_process_memory()
    {
        var store = new InMemorySyncScheduleStore();
        return WatchScheduleScenarios.DemandKeepsAWatchedMailboxDueAtTheWatchIntervalAsync(store, (shard, member) => Task.FromResult(store.DueAt(shard, member)));
    }

    [Fact]
    public async Task The_demand_lasts_three_intervals_and_a_renewal_makes_a_new_watch_due_within_one()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 6, 0, 0, TimeSpan.Zero));
        var store = new InMemorySyncScheduleStore();
        var sync = Options.Create(new SyncOptions { Shards = 4 });
        var pop3 = Options.Create(new Pop3Options { PollInterval = TimeSpan.FromSeconds(30) });
        var demand = new WatchDemand(store, null, sync, pop3, clock);
        Assert.False(demand.Deployed); // the embedded store: each process polls its watched mailboxes itself
        Assert.Equal(TimeSpan.FromSeconds(90), demand.DemandTime);
        Assert.Equal(TimeSpan.FromSeconds(1), demand.CheckEvery);
        Assert.Equal(TimeSpan.FromMinutes(5), demand.ListingTime);

        await demand.RenewAsync("acme", "mbx-1", default);
        var member = SyncKeys.Member("acme", "mbx-1");
        Assert.Equal(clock.GetUtcNow().AddSeconds(30), store.DueAt(SyncKeys.Shard(member, 4), member));
        clock.Advance(TimeSpan.FromSeconds(89));
        Assert.True(await demand.IsWatchedAsync("acme", "mbx-1", default));
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(await demand.IsWatchedAsync("acme", "mbx-1", default)); // the replica stopped renewing: lapsed

        var fast = new WatchDemand(store, null, sync, Options.Create(new Pop3Options { PollInterval = TimeSpan.FromMilliseconds(200) }), clock);
        Assert.Equal(TimeSpan.FromSeconds(5), fast.DemandTime);
        Assert.Equal(TimeSpan.FromMilliseconds(100), fast.CheckEvery);

        Assert.False(demand.HasLocalWatches);
        demand.Started();
        demand.Started();
        demand.Stopped();
        Assert.True(demand.HasLocalWatches);
        demand.Stopped();
        Assert.False(demand.HasLocalWatches);
    }

    [Fact]
    public void The_demand_sits_beside_its_shard_and_the_listing_in_the_mailbox_slot()
    {
        Assert.Equal("mailgrpc:{sync:3}:watched", SyncKeys.Watched("sync", 3));
        Assert.StartsWith("mailgrpc:{mbx:acme:mbx-1}:", SyncKeys.WatchListing("acme", "mbx-1"), StringComparison.Ordinal);
    }
}

/// <summary>The same rules on the rig's Redis (the Lua scripts).</summary>
public sealed class WatchScheduleRedisTests
{
    [Fact]
    public async Task A_watch_demand_keeps_a_mailbox_due_at_the_watch_interval_on_Redis()
    {
        var schedule = SyncRig.NewSchedule();
        var redis = TestRedis.Connection;
        var store = new RedisSyncScheduleStore(redis, schedule);
        try
        {
            await WatchScheduleScenarios.DemandKeepsAWatchedMailboxDueAtTheWatchIntervalAsync(store, async (shard, member) =>
                await redis.GetDatabase().SortedSetScoreAsync(SyncKeys.Due(schedule, shard), member) is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds((long)ms) : null);
        }
        finally
        {
            await redis.GetDatabase().KeyDeleteAsync([SyncKeys.Due(schedule, 1), SyncKeys.Watched(schedule, 1)]);
        }
    }

    [Fact]
    public async Task A_published_listing_gets_a_new_version_only_when_its_uids_change()
    {
        var listings = new RedisWatchListingStore(TestRedis.Connection);
        var tenant = "wl" + SyncRig.NewSchedule();
        try
        {
            Assert.Equal(0, await listings.VersionAsync(tenant, "mbx-1", default));
            Assert.Null(await listings.GetAsync(tenant, "mbx-1", default));
            await listings.PublishAsync(tenant, "mbx-1", ["a", "b"], TimeSpan.FromMinutes(1), default);
            var first = await listings.GetAsync(tenant, "mbx-1", default);
            Assert.NotNull(first);
            Assert.Equal(new[] { "a", "b" }, first.Uids);
            Assert.NotEqual(0, first.Version);

            await listings.PublishAsync(tenant, "mbx-1", ["a", "b"], TimeSpan.FromMinutes(1), default);
            Assert.Equal(first.Version, await listings.VersionAsync(tenant, "mbx-1", default));

            await listings.PublishAsync(tenant, "mbx-1", ["b", "c"], TimeSpan.FromMinutes(1), default);
            var second = await listings.GetAsync(tenant, "mbx-1", default);
            Assert.NotEqual(first.Version, second!.Version);
            Assert.Equal(new[] { "b", "c" }, second.Uids);

            // A poll that failed for good: a new version marked failed, same uids; the next good poll clears the mark.
            await listings.PublishFailureAsync(tenant, "mbx-1", TimeSpan.FromMinutes(1), default);
            var failed = await listings.GetAsync(tenant, "mbx-1", default);
            Assert.True(failed!.Failed);
            Assert.NotEqual(second.Version, failed.Version);
            Assert.Equal(new[] { "b", "c" }, failed.Uids);
            await listings.PublishAsync(tenant, "mbx-1", ["b", "c"], TimeSpan.FromMinutes(1), default);
            var recovered = await listings.GetAsync(tenant, "mbx-1", default);
            Assert.False(recovered!.Failed);
            Assert.False(second.Failed);
            Assert.Equal(failed.Version, recovered.Version);

            await listings.PublishAsync(tenant, "mbx-1", [], TimeSpan.FromMinutes(1), default);
            Assert.Empty((await listings.GetAsync(tenant, "mbx-1", default))!.Uids);
            var ttl = await TestRedis.Connection.GetDatabase().KeyTimeToLiveAsync(SyncKeys.WatchListing(tenant, "mbx-1"));
            Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
        }
        finally
        {
            await TestRedis.Connection.GetDatabase().KeyDeleteAsync(SyncKeys.WatchListing(tenant, "mbx-1"));
        }
    }
}

/// <summary>The watch scripts on the rig's Redis Cluster: each names keys of one hash tag (the shard's), so they run there too.</summary>
[Collection("redis-cluster")]
public sealed class WatchScheduleClusterTests(MailGrpc.Tests.Faults.RedisClusterRig cluster)
{
    [Fact]
    public async Task A_watch_demand_keeps_a_mailbox_due_at_the_watch_interval_on_Redis_Cluster()
    {
        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(cluster.Configuration);
        var schedule = SyncRig.NewSchedule();
        var store = new RedisSyncScheduleStore(redis, schedule);
        try
        {
            await WatchScheduleScenarios.DemandKeepsAWatchedMailboxDueAtTheWatchIntervalAsync(store, async (shard, member) =>
                await redis.GetDatabase().SortedSetScoreAsync(SyncKeys.Due(schedule, shard), member) is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds((long)ms) : null);
        }
        finally
        {
            await redis.GetDatabase().KeyDeleteAsync([SyncKeys.Due(schedule, 1), SyncKeys.Watched(schedule, 1)]);
        }
    }
}
