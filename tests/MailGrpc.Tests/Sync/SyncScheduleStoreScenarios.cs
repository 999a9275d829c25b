using System.Collections.Concurrent;
using MailGrpc.Server.Sync;
using MailGrpc.Tests.Faults;
using MailGrpc.Tests.Infrastructure;
using StackExchange.Redis;

namespace MailGrpc.Tests.Sync;

/// <summary>The schedule's claim script on real Redis: concurrent claimers never share an entry; a dead claim lapses at its deadline.</summary>
internal static class SyncScheduleStoreScenarios
{
    public static async Task ConcurrentClaimsAreExclusiveAndLapseAtTheirDeadlineAsync(IConnectionMultiplexer redis)
    {
        var schedule = SyncRig.NewSchedule();
        var store = new RedisSyncScheduleStore(redis, schedule);
        const int shards = 4;
        var t0 = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        var members = Enumerable.Range(0, 200).Select(i => SyncKeys.Member("tenant", "mbx-" + i)).ToArray();
        foreach (var member in members)
        {
            await store.AddIfAbsentAsync(SyncKeys.Shard(member, shards), member, t0.AddMilliseconds(-members.Length + Array.IndexOf(members, member)), default);
        }

        // Four replicas claim at once, in batches of 5, until nothing is due.
        var claims = new ConcurrentBag<string>();
        var deadline = t0.AddSeconds(60);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(replica => Task.Run(async () =>
        {
            while (true)
            {
                var got = 0;
                for (var shard = 0; shard < shards; shard++)
                {
                    foreach (var claimed in await store.ClaimAsync((shard + replica) % shards, t0, deadline, 5, default))
                    {
                        claims.Add(claimed.Member);
                        got++;
                    }
                }

                if (got == 0)
                {
                    return;
                }
            }
        })));
        Assert.Equal(members.Length, claims.Count);
        Assert.Equal(members.Order(StringComparer.Ordinal), claims.Order(StringComparer.Ordinal));

        // Before the claims' deadline nothing is due; at it (the claimers died) everything is, once.
        for (var shard = 0; shard < shards; shard++)
        {
            Assert.Empty(await store.ClaimAsync(shard, deadline.AddMilliseconds(-1), deadline.AddSeconds(60), 1000, default));
            Assert.Equal(0, await store.CountDueAsync(shard, deadline.AddMilliseconds(-1), default));
        }

        var again = new List<ClaimedEntry>();
        for (var shard = 0; shard < shards; shard++)
        {
            again.AddRange(await store.ClaimAsync(shard, deadline, deadline.AddSeconds(60), 1000, default));
        }

        Assert.Equal(members.Order(StringComparer.Ordinal), again.Select(c => c.Member).Order(StringComparer.Ordinal));
        Assert.All(again, c => Assert.Equal(deadline, c.DueAt));

        // A poll that ends after the mailbox was deleted does not put it back; an upsert only moves an entry earlier.
        var first = members[0];
        var firstShard = SyncKeys.Shard(first, shards);
        await store.RemoveAsync(firstShard, first, default);
        await store.RescheduleAsync(firstShard, first, t0, default);
        Assert.DoesNotContain(await store.ClaimAsync(firstShard, DateTimeOffset.MaxValue.AddYears(-1), DateTimeOffset.MaxValue.AddYears(-1), 1000, default), c => c.Member == first);
        var second = members[1];
        var secondShard = SyncKeys.Shard(second, shards);
        await store.RescheduleAsync(secondShard, second, t0.AddSeconds(10), default);
        await store.UpsertAsync(secondShard, second, t0.AddSeconds(20), default);
        Assert.Equal(t0.AddSeconds(10), DateTimeOffset.FromUnixTimeMilliseconds((long)(await redis.GetDatabase().SortedSetScoreAsync(SyncKeys.Due(schedule, secondShard), second))!.Value));
        await store.UpsertAsync(secondShard, second, t0.AddSeconds(5), default);
        Assert.Equal(t0.AddSeconds(5), DateTimeOffset.FromUnixTimeMilliseconds((long)(await redis.GetDatabase().SortedSetScoreAsync(SyncKeys.Due(schedule, secondShard), second))!.Value));

        for (var shard = 0; shard < shards; shard++)
        {
            await redis.GetDatabase().KeyDeleteAsync(SyncKeys.Due(schedule, shard));
        }
    }
}

/// <summary>The schedule's claims on the rig's single Redis.</summary>
public sealed class SyncScheduleStoreTests
{
    [Fact]
    public Task Concurrent_claims_are_exclusive_and_lapse_at_their_deadline() =>
        SyncScheduleStoreScenarios.ConcurrentClaimsAreExclusiveAndLapseAtTheirDeadlineAsync(TestRedis.Connection);
}

/// <summary>The schedule's claims on the rig's Redis Cluster: one key per command, shards on different slots.</summary>
[Collection("redis-cluster")]
public sealed class SyncScheduleStoreClusterTests(RedisClusterRig cluster)
{
    [Fact]
    public async Task Concurrent_claims_are_exclusive_and_lapse_at_their_deadline_on_Redis_Cluster()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration);
        await SyncScheduleStoreScenarios.ConcurrentClaimsAreExclusiveAndLapseAtTheirDeadlineAsync(redis);
    }

    [Fact]
    public void Shards_spread_over_slots_and_a_mailboxs_sync_state_shares_its_slot()
    {
        var slots = Enumerable.Range(0, 16).Select(s => cluster.Admin!.HashSlot(SyncKeys.Due("sync", s))).ToHashSet();
        Assert.True(slots.Count >= 12, $"16 shards landed in only {slots.Count} slots");
        Assert.Equal(cluster.Admin!.HashSlot(MailGrpc.Server.Storage.StoreKeys.Mailbox("acme", "mbx-1")), cluster.Admin.HashSlot(SyncKeys.State("acme", "mbx-1")));
    }
}
