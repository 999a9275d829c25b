using MailGrpc.Server.Events;
using MailGrpc.Server.Sync;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using StackExchange.Redis;

namespace MailGrpc.Tests.Sync;

/// <summary>
/// A mailbox on the rig's Dovecot synced by a server with the engine on (real token layer, real Redis): the first poll
/// records the existing mail without events, a delivered message gives exactly one <c>message.arrived</c> with its
/// envelope, a removed one <c>message.removed</c>; a password changed at the server makes the mailbox
/// REAUTHORIZATION_REQUIRED (<c>mailbox.state_changed</c> with the reason, <c>mailbox.sync_failing</c>), and a new password
/// makes it ACTIVE again (<c>mailbox.state_changed</c>, <c>mailbox.sync_recovered</c>).
/// </summary>
internal static class SyncEndToEndScenario
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    public static async Task RunAsync(Pop3Rig rig, string? redisConfiguration)
    {
        var tenant = TestTenant.Create("sync");
        await using var host = new MailGrpcTestHost(SyncRig.Settings(rig, tenant, SyncRig.NewSchedule(), redisConfiguration));
        await using var redis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration ?? rig.Redis);
        Task<IReadOnlyList<FeedEvent>> Feed() => SyncRig.ReadFeedAsync(redis, tenant.Name);

        // Mail that is there before the mailbox is synced.
        var user = Pop3Rig.NewUser("sync");
        var password = rig.AddPasswordUser(user);
        var existing = await rig.SeedAsync(user, [Pop3Rig.MakeMessage(1, 3000), Pop3Rig.MakeMessage(2, 3000)]);
        var mailboxes = host.Mailboxes(tenant.ApiKey);
        var authorization = host.Authorization(tenant.ApiKey);
        const string id = "synced";
        await mailboxes.CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox
            {
                Username = user,
                Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls },
                AuthMethod = new AuthMethod { Password = new PasswordAuth() },
                Sync = new SyncSettings { Enabled = true, Interval = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(1)) },
            },
        });
        await authorization.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password });

        // First poll: the two uids are recorded, no arrival is emitted for them.
        var state = SyncKeys.State(tenant.Name, id);
        var known = await Eventually.ValueAsync(async () =>
            (string?)await redis.GetDatabase().HashGetAsync(state, "uids") is { } uids && uids.Split('\n') is { Length: 2 } two ? two : null, Wait, "the first poll's known uids");
        var feed = await Feed();
        var activated = Assert.Single(feed);
        Assert.Equal(MailEventTypes.MailboxStateChanged, activated.Type);
        Assert.Equal("ACTIVE", activated.Data.GetProperty("state").GetString());
        Assert.Equal("PENDING_AUTHORIZATION", activated.Data.GetProperty("previous_state").GetString());

        // A delivered message: exactly one message.arrived with its envelope.
        var body = SyncRig.Message("Bob Sender <bob@example.org>", "Alice <alice@example.org>", "Quarterly report", "q4-report@example.org", "Mon, 07 Dec 2026 03:00:00 +0000");
        await rig.SeedAsync(user, [body]);
        var arrived = await Eventually.ValueAsync(async () => (await Feed()).FirstOrDefault(e => e.Type == MailEventTypes.MessageArrived), Wait, "message.arrived");
        Assert.Equal(id, arrived.MailboxId);
        Assert.Equal(id, arrived.Data.GetProperty("mailbox_id").GetString());
        Assert.Equal(body.Length, arrived.Data.GetProperty("size").GetInt64());
        var uid = arrived.Data.GetProperty("uid").GetString();
        Assert.DoesNotContain(uid, known);
        var envelope = arrived.Data.GetProperty("envelope");
        Assert.Equal("Quarterly report", envelope.GetProperty("subject").GetString());
        Assert.Equal("q4-report@example.org", envelope.GetProperty("message_id").GetString());
        Assert.Equal(new DateTimeOffset(2026, 12, 7, 3, 0, 0, TimeSpan.Zero), envelope.GetProperty("date").GetDateTimeOffset());
        Assert.Equal("bob@example.org", Assert.Single(envelope.GetProperty("from").EnumerateArray()).GetProperty("address").GetString());
        Assert.Equal("Bob Sender", envelope.GetProperty("from")[0].GetProperty("name").GetString());
        Assert.Equal("alice@example.org", Assert.Single(envelope.GetProperty("to").EnumerateArray()).GetProperty("address").GetString());

        // A message removed from the maildrop: message.removed with a uid the mailbox had.
        File.Delete(rig.MessageFiles(user).Single(f => Path.GetFileName(f).StartsWith(existing[0], StringComparison.Ordinal)));
        var removed = await Eventually.ValueAsync(async () => (await Feed()).FirstOrDefault(e => e.Type == MailEventTypes.MessageRemoved), Wait, "message.removed");
        Assert.Contains(removed.Data.GetProperty("uid").GetString(), known);
        Assert.Equal(id, removed.Data.GetProperty("mailbox_id").GetString());

        // Polls went on in between (the removal needed one), and the arrival was appended once.
        Assert.Single(await Feed(), e => e.Type == MailEventTypes.MessageArrived);

        // The password is changed at the server: the mailbox needs re-authorization and its sync fails.
        var newPassword = rig.AddPasswordUser(user);
        var reauth = await Eventually.ValueAsync(async () => (await Feed()).FirstOrDefault(e => e.Type == MailEventTypes.MailboxStateChanged && e.Data.GetProperty("state").GetString() == "REAUTHORIZATION_REQUIRED"), Wait, "state_changed to REAUTHORIZATION_REQUIRED");
        var mailbox = (await mailboxes.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox;
        Assert.Equal(MailboxState.ReauthorizationRequired, mailbox.State);
        Assert.Equal("ACTIVE", reauth.Data.GetProperty("previous_state").GetString());
        Assert.Equal(mailbox.LastErrorReason, reauth.Data.GetProperty("reason").GetString());
        Assert.NotEmpty(mailbox.LastErrorReason);
        var failing = await Eventually.ValueAsync(async () => (await Feed()).FirstOrDefault(e => e.Type == MailEventTypes.MailboxSyncFailing), Wait, "mailbox.sync_failing");
        Assert.Equal(1, failing.Data.GetProperty("consecutive_failures").GetInt32());
        Assert.NotEmpty(failing.Data.GetProperty("reason").GetString()!);
        Assert.DoesNotContain(newPassword, failing.Data.GetRawText(), StringComparison.Ordinal);

        // A new password: ACTIVE again, polled, recovered.
        await authorization.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = newPassword });
        await Eventually.WaitAsync(async () => (await Feed()).Any(e => e.Type == MailEventTypes.MailboxSyncRecovered), Wait, "mailbox.sync_recovered");
        var final = await Feed();
        Assert.Single(final, e => e.Type == MailEventTypes.MailboxSyncFailing);
        Assert.Contains(final, e => e.Type == MailEventTypes.MailboxStateChanged && e.Data.GetProperty("state").GetString() == "ACTIVE" && e.Data.GetProperty("previous_state").GetString() == "REAUTHORIZATION_REQUIRED");
        Assert.Single(final, e => e.Type == MailEventTypes.MessageArrived);
        Assert.Single(final, e => e.Type == MailEventTypes.MessageRemoved);

        // Deleting the mailbox takes it off the schedule and drops its sync state.
        await mailboxes.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id });
        Assert.False(await redis.GetDatabase().KeyExistsAsync(state));
        await redis.GetDatabase().KeyDeleteAsync(EventLogKeys.Stream(tenant.Name));
    }
}
