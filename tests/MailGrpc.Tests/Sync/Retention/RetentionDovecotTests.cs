using Google.Protobuf.WellKnownTypes;
using MailGrpc.Server.Events;
using MailGrpc.Server.Sync;
using MailGrpc.Server.Sync.Retention;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using StackExchange.Redis;

namespace MailGrpc.Tests.Sync.Retention;

/// <summary>
/// Retention policies through the sync engine on the rig's Dovecot and Redis: a message is deleted only once every required
/// consumer acknowledged it (a non-required consumer does not count, KEEP never deletes), at the next poll or after
/// <c>delete_after</c>, and its <c>message.removed</c> is emitted once. "A poll ran after X" is shown by delivering a new
/// message after X and waiting for its <c>message.arrived</c>: that poll listed after X, and retention runs in it.
/// </summary>
[Collection("sync")]
public sealed class RetentionDovecotTests(Pop3Rig rig)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_message_is_deleted_once_every_required_consumer_acknowledged_it_and_removed_is_emitted_once()
    {
        var tenant = TestTenant.Create("retention");
        await using var host = new MailGrpcTestHost(SyncRig.Settings(rig, tenant, SyncRig.NewSchedule()));
        await using var redis = await ConnectionMultiplexer.ConnectAsync(rig.Redis);
        var mailboxes = host.Mailboxes(tenant.ApiKey);
        var messages = host.Messages(tenant.ApiKey);

        var (id, user, _) = await SyncRig.CreateActiveMailboxAsync(host, tenant, rig, "ret");
        await SetRetentionAsync(mailboxes, id, RetentionMode.DeleteWhenAcknowledged, TimeSpan.Zero, "a", "b");
        var (keepId, keepUser, _) = await SyncRig.CreateActiveMailboxAsync(host, tenant, rig, "keep");
        await SetRetentionAsync(mailboxes, keepId, RetentionMode.Keep, TimeSpan.Zero, "a", "b");

        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(1, 2000), Pop3Rig.MakeMessage(2, 2000)]);
        await rig.SeedAsync(keepUser, [Pop3Rig.MakeMessage(1, 2000)]);
        await WaitKnownAsync(redis, tenant.Name, id, 2);
        await WaitKnownAsync(redis, tenant.Name, keepId, 1);
        var uids = await UidsAsync(messages, id);
        var (u1, u2) = (uids[0], uids[1]);
        var keepUid = Assert.Single(await UidsAsync(messages, keepId));

        // u1: one of the two required consumers; u2: a required one and one that is not required. KEEP: both of them.
        await AckAsync(messages, id, "a", u1, u2);
        await AckAsync(messages, id, "c", u2);
        await AckAsync(messages, keepId, "a", keepUid);
        await AckAsync(messages, keepId, "b", keepUid);
        await PollAfterAsync(redis, tenant.Name, user, keepUser, id, keepId, 3);
        Assert.Equal([u1, u2], (await UidsAsync(messages, id)).Take(2));
        Assert.Contains(keepUid, await UidsAsync(messages, keepId));

        // The second required consumer acknowledges u1: the next poll deletes it and emits message.removed.
        await AckAsync(messages, id, "b", u1);
        var removed = await Eventually.ValueAsync(
            async () => (await SyncRig.ReadFeedAsync(redis, tenant.Name)).FirstOrDefault(e => e.Type == MailEventTypes.MessageRemoved && e.MailboxId == id),
            Wait, "message.removed for the message both required consumers acknowledged");
        Assert.Equal(u1, removed.Data.GetProperty("uid").GetString());
        var left = await UidsAsync(messages, id);
        Assert.DoesNotContain(u1, left);
        Assert.Contains(u2, left);

        // More polls: u1's removal is not emitted again, u2 and the KEEP mailbox's message stay.
        await PollAfterAsync(redis, tenant.Name, user, keepUser, id, keepId, 4);
        var feed = await SyncRig.ReadFeedAsync(redis, tenant.Name);
        Assert.Single(feed, e => e.Type == MailEventTypes.MessageRemoved);
        Assert.Contains(u2, await UidsAsync(messages, id));
        Assert.Contains(keepUid, await UidsAsync(messages, keepId));
        await redis.GetDatabase().KeyDeleteAsync(EventLogKeys.Stream(tenant.Name));
    }

    [Fact]
    public async Task With_delete_after_a_message_stays_until_that_time_has_passed_since_the_first_poll_saw_it_acknowledged()
    {
        var tenant = TestTenant.Create("retention");
        await using var host = new MailGrpcTestHost(SyncRig.Settings(rig, tenant, SyncRig.NewSchedule()));
        await using var redis = await ConnectionMultiplexer.ConnectAsync(rig.Redis);
        var mailboxes = host.Mailboxes(tenant.ApiKey);
        var messages = host.Messages(tenant.ApiKey);

        var (id, user, _) = await SyncRig.CreateActiveMailboxAsync(host, tenant, rig, "later");
        await SetRetentionAsync(mailboxes, id, RetentionMode.DeleteWhenAcknowledged, TimeSpan.FromHours(1), "a");
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(1, 2000)]);
        await WaitKnownAsync(redis, tenant.Name, id, 1);
        var uid = Assert.Single(await UidsAsync(messages, id));
        await AckAsync(messages, id, "a", uid);

        // The first poll that sees it acknowledged starts its clock; later polls leave it (an hour has not passed).
        var clockKey = RedisRetentionClockStore.Key(tenant.Name, id);
        var started = await Eventually.ValueAsync(async () => (string?)await redis.GetDatabase().HashGetAsync(clockKey, uid), Wait, "the retention clock of the acknowledged message");
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(2, 2000)]);
        await Eventually.WaitAsync(async () => (await SyncRig.ReadFeedAsync(redis, tenant.Name)).Any(e => e.Type == MailEventTypes.MessageArrived && e.MailboxId == id), Wait, "a poll after the clock started");
        Assert.Contains(uid, await UidsAsync(messages, id));
        Assert.Equal(started, (string?)await redis.GetDatabase().HashGetAsync(clockKey, uid));
        Assert.DoesNotContain(await SyncRig.ReadFeedAsync(redis, tenant.Name), e => e.Type == MailEventTypes.MessageRemoved);

        // A shorter delay that has passed since the clock started: deleted at a next poll, removed once, clock gone.
        var changed = DateTimeOffset.UtcNow;
        await mailboxes.UpdateMailboxAsync(new UpdateMailboxRequest
        {
            Mailbox = new Mailbox { MailboxId = id, Retention = new RetentionPolicy { DeleteAfter = Duration.FromTimeSpan(TimeSpan.FromSeconds(1)) } },
            UpdateMask = new FieldMask { Paths = { "retention.delete_after" } },
        });
        var removed = await Eventually.ValueAsync(
            async () => (await SyncRig.ReadFeedAsync(redis, tenant.Name)).FirstOrDefault(e => e.Type == MailEventTypes.MessageRemoved),
            Wait, "message.removed once delete_after has passed");
        Assert.Equal(uid, removed.Data.GetProperty("uid").GetString());
        Assert.True(DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(started, System.Globalization.CultureInfo.InvariantCulture)).AddSeconds(1) <= DateTimeOffset.UtcNow);
        Assert.DoesNotContain(uid, await UidsAsync(messages, id));
        Assert.False(await redis.GetDatabase().HashExistsAsync(clockKey, uid));
        var policy = (await mailboxes.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox.Retention;
        Assert.Equal(RetentionMode.DeleteWhenAcknowledged, policy.Mode);
        Assert.Equal(["a"], policy.RequiredConsumers);
        Assert.True(changed <= DateTimeOffset.UtcNow);
        await redis.GetDatabase().KeyDeleteAsync(EventLogKeys.Stream(tenant.Name));
    }

    [Fact]
    public async Task A_bad_policy_is_refused_with_its_reason_and_changes_nothing()
    {
        var tenant = TestTenant.Create("retention");
        await using var host = new MailGrpcTestHost(SyncRig.Settings(rig, tenant, SyncRig.NewSchedule()));
        var mailboxes = host.Mailboxes(tenant.ApiKey);
        var (id, _, _) = await SyncRig.CreateActiveMailboxAsync(host, tenant, rig, "bad");

        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => SetRetentionAsync(mailboxes, id, RetentionMode.DeleteWhenAcknowledged, TimeSpan.Zero));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("INVALID_RETENTION_CONSUMERS", error.Trailers.Select(t => t.Key.EndsWith("-bin", StringComparison.Ordinal) ? System.Text.Encoding.UTF8.GetString(t.ValueBytes) : t.Value).Aggregate(string.Empty, string.Concat), StringComparison.Ordinal);
        Assert.Null((await mailboxes.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox.Retention);
    }

    private static Task<UpdateMailboxResponse> SetRetentionAsync(MailboxService.MailboxServiceClient mailboxes, string id, RetentionMode mode, TimeSpan deleteAfter, params string[] consumers) =>
        mailboxes.UpdateMailboxAsync(new UpdateMailboxRequest
        {
            Mailbox = new Mailbox
            {
                MailboxId = id,
                Retention = new RetentionPolicy { Mode = mode, RequiredConsumers = { consumers }, DeleteAfter = Duration.FromTimeSpan(deleteAfter) },
            },
            UpdateMask = new FieldMask { Paths = { "retention" } },
        }).ResponseAsync;

    private static Task WaitKnownAsync(ConnectionMultiplexer redis, string tenant, string id, int count) =>
        Eventually.WaitAsync(
            async () => (string?)await redis.GetDatabase().HashGetAsync(SyncKeys.State(tenant, id), "uids") is { } uids && uids.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == count,
            Wait, $"{count} known uids of {id}");

    private static async Task<List<string>> UidsAsync(MessageService.MessageServiceClient messages, string id) =>
        (await messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id })).Messages.Select(m => m.Uid).ToList();

    private static async Task AckAsync(MessageService.MessageServiceClient messages, string id, string consumer, params string[] uids)
    {
        var reply = await messages.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = consumer, Uids = { uids } });
        Assert.Equal(uids, reply.AcknowledgedUids);
    }

    /// <summary>Delivers message <paramref name="number"/> to both mailboxes and waits until a poll of each has seen it.</summary>
    private async Task PollAfterAsync(ConnectionMultiplexer redis, string tenant, string user, string keepUser, string id, string keepId, int number)
    {
        var before = (await SyncRig.ReadFeedAsync(redis, tenant)).Count(e => e.Type == MailEventTypes.MessageArrived);
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(number, 2000)]);
        await rig.SeedAsync(keepUser, [Pop3Rig.MakeMessage(number, 2000)]);
        await Eventually.WaitAsync(
            async () => (await SyncRig.ReadFeedAsync(redis, tenant)).Where(e => e.Type == MailEventTypes.MessageArrived).Skip(before).Select(e => e.MailboxId).Distinct().Count() == 2,
            Wait, $"polls of {id} and {keepId} after message {number}");
    }
}
