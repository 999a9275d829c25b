using MailGrpc.Tests.Faults;
using MailGrpc.Tests.Messages;

namespace MailGrpc.Tests.Sync;

/// <summary>The sync engine end to end on the rig's Dovecot and single Redis (<see cref="SyncEndToEndScenario"/>).</summary>
[Collection("sync")]
public sealed class SyncDovecotTests(Pop3Rig rig)
{
    [Fact]
    public Task Arrivals_removals_reauthorization_and_recovery_become_events_on_single_Redis() => SyncEndToEndScenario.RunAsync(rig, null);
}

/// <summary>The same on the rig's Redis Cluster: the schedule, the sync state and the feed use single-slot commands only.</summary>
[Collection("redis-cluster")]
public sealed class SyncClusterTests(RedisClusterRig cluster)
{
    [Fact]
    public async Task Arrivals_removals_reauthorization_and_recovery_become_events_on_Redis_Cluster()
    {
        using var rig = new Pop3Rig();
        await SyncEndToEndScenario.RunAsync(rig, cluster.Configuration);
    }
}
