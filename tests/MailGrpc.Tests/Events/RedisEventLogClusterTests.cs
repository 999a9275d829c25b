using MailGrpc.Server.Events;
using MailGrpc.Tests.Faults;
using StackExchange.Redis;

namespace MailGrpc.Tests.Events;

/// <summary>The tenant event log on the rig's 6-node Redis Cluster (tests/rig/cluster.sh): every command is single-slot.</summary>
[Collection("redis-cluster")]
public sealed class RedisEventLogClusterTests(RedisClusterRig cluster)
{
    [Fact]
    public async Task Consumer_groups_share_acknowledge_resume_and_take_over_on_Redis_Cluster()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration);
        await EventLogScenarios.ConsumerGroupsShareAcknowledgeResumeAndTakeOverAsync(redis);
    }

    [Fact]
    public async Task Appending_trims_by_retention_and_length_on_Redis_Cluster()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Configuration);
        await EventLogScenarios.AppendTrimsByRetentionAndLengthAsync(redis);
    }

    [Fact]
    public void Tenants_streams_spread_over_slots_by_their_hash_tag()
    {
        var slots = Enumerable.Range(0, 32).Select(i => cluster.Admin!.HashSlot(EventLogKeys.Stream("tenant" + i))).ToHashSet();
        Assert.True(slots.Count > 16, $"32 tenants landed in only {slots.Count} slots");
        Assert.Equal(cluster.Admin!.HashSlot("{evt:acme}"), cluster.Admin.HashSlot(EventLogKeys.Stream("acme")));
    }
}
