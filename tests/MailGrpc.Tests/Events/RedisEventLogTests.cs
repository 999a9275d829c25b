using MailGrpc.Server.Events;
using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Events;

/// <summary>The tenant event log on the rig's single Redis.</summary>
public sealed class RedisEventLogTests
{
    [Fact]
    public Task Consumer_groups_share_acknowledge_resume_and_take_over_after_the_visibility_timeout() =>
        EventLogScenarios.ConsumerGroupsShareAcknowledgeResumeAndTakeOverAsync(TestRedis.Connection);

    [Fact]
    public Task Appending_trims_by_retention_and_length() =>
        EventLogScenarios.AppendTrimsByRetentionAndLengthAsync(TestRedis.Connection);

    [Fact]
    public void Each_tenant_has_one_hash_tagged_stream_key()
    {
        Assert.Equal("mailgrpc:{evt:acme}:events", EventLogKeys.Stream("acme"));
        Assert.Throws<ArgumentException>(() => EventLogKeys.Stream("a}b"));
        Assert.Throws<ArgumentException>(() => EventLogKeys.Stream(""));
    }
}
