using MailGrpc.Tests.Faults;

namespace MailGrpc.Tests.Events;

/// <summary>SubscribeEvents on the rig's 6-node Redis Cluster.</summary>
[Collection("redis-cluster")]
public sealed class SubscribeEventsClusterTests(RedisClusterRig cluster)
{
    [Fact]
    public Task Two_consumers_of_one_group_share_the_events_on_Redis_Cluster() =>
        SubscribeEventsScenarios.TwoConsumersOfOneGroupShareTheEventsAsync(cluster.Configuration);

    [Fact]
    public Task A_killed_consumers_events_are_taken_over_on_Redis_Cluster() =>
        SubscribeEventsScenarios.AKilledConsumersEventsAreTakenOverAfterTheVisibilityTimeoutAsync(cluster.Configuration);
}
