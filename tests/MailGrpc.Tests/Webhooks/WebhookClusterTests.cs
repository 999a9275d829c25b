using MailGrpc.Tests.Faults;

namespace MailGrpc.Tests.Webhooks;

/// <summary>Webhook delivery and dead letters on the rig's 6-node Redis Cluster: every command single-slot.</summary>
[Collection("redis-cluster")]
public sealed class WebhookClusterTests(RedisClusterRig cluster)
{
    [Fact]
    public Task Deliveries_are_signed_once_and_in_mailbox_order_on_Redis_Cluster() =>
        WebhookScenarios.DeliversSignedOncePerEventInMailboxOrderAfterFailuresAsync(cluster.Configuration);

    [Fact]
    public Task Dead_letters_and_redelivery_work_on_Redis_Cluster() =>
        WebhookScenarios.DeadLettersPastMaxAgeAndRedeliversAsync(cluster.Configuration);
}
