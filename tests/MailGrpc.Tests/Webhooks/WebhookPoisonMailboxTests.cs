using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Webhooks;

/// <summary>
/// A poison mailbox (its events keep failing at the endpoint: the receiver answers 500 for it alone) holds at most
/// <c>MaxBufferedPerMailbox</c> events of the endpoint's buffer: the other mailboxes keep flowing, and its events stay
/// pending in the endpoint's group until they are delivered (in order, once) or dead-lettered. Real server, the rig's
/// Redis, a real HTTP receiver; a buffer of 16 that 40 poison events would fill without the bound.
/// </summary>
public sealed class WebhookPoisonMailboxTests
{
    private const int PoisonEvents = 40;
    private const int HealthyPerMailbox = 10;
    private static readonly string[] Healthy = ["m-ok-a", "m-ok-b", "m-ok-c"];
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private static Dictionary<string, string?> SmallBuffer(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["MailGrpc:Webhooks:MaxBufferedPerEndpoint"] = "16",
            ["MailGrpc:Webhooks:MaxBufferedPerMailbox"] = "4",
        };
        foreach (var (key, value) in more) settings[key] = value;
        return settings;
    }

    /// <summary>40 poison events first, then 10 for each of 3 healthy mailboxes; returns (id, mailbox) in append order.</summary>
    private static async Task<List<(string Id, string Mailbox)>> AppendAsync(FeedHost feed)
    {
        var appended = new List<(string Id, string Mailbox)>();
        for (var uid = 1; uid <= PoisonEvents; uid++) appended.Add((await feed.ArriveAsync("m-poison", uid), "m-poison"));
        for (var uid = 1; uid <= HealthyPerMailbox; uid++)
        {
            foreach (var mailbox in Healthy) appended.Add((await feed.ArriveAsync(mailbox, uid), mailbox));
        }

        return appended;
    }

    private static void AssertDeliveredInOrderOnce(WebhookReceiver receiver, List<(string Id, string Mailbox)> appended, string mailbox) =>
        Assert.Equal(
            appended.Where(a => a.Mailbox == mailbox).Select(a => a.Id),
            receiver.Accepted.Where(r => r.MailboxId == mailbox).Select(r => r.Id));

    [Fact]
    public async Task A_mailbox_failing_at_the_endpoint_does_not_stall_the_others_and_its_events_wait_pending_until_delivered_in_order()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var healed = 0;
        receiver.Respond = r => r.MailboxId == "m-poison" && Volatile.Read(ref healed) == 0 ? 500 : 204;
        await using var feed = FeedHost.Start(TestRedis.Configuration, extra: SmallBuffer());
        var (webhook, secret) = await WebhookScenarios.CreateAsync(feed, receiver.Url);
        receiver.Secrets = [secret];
        var group = "webhook." + webhook.WebhookId;
        var appended = await AppendAsync(feed);
        var poison = appended.Where(a => a.Mailbox == "m-poison").Select(a => a.Id).ToList();

        // Every healthy event arrives while the poison mailbox keeps failing (and was tried more than once).
        await Eventually.WaitAsync(
            () => Task.FromResult(receiver.Accepted.Count(r => r.MailboxId != "m-poison") == Healthy.Length * HealthyPerMailbox
                && receiver.Received.Count(r => r.MailboxId == "m-poison") >= 2),
            Wait,
            "the healthy mailboxes' 30 events delivered past 40 failing ones");
        foreach (var mailbox in Healthy) AssertDeliveredInOrderOnce(receiver, appended, mailbox);
        Assert.DoesNotContain(receiver.Accepted, r => r.MailboxId == "m-poison");
        // Nothing passes the poison mailbox's head: every request for it so far was its first event.
        Assert.All(receiver.Received.Where(r => r.MailboxId == "m-poison"), r => Assert.Equal(poison[0], r.Id));
        // Its events are still pending in the endpoint's group (none lost, none dead-lettered), the healthy ones are not.
        await Eventually.WaitAsync(async () => await feed.PendingAsync(group) == PoisonEvents, Wait, "exactly the 40 poison events pending");
        Assert.Empty((await feed.Webhooks.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = webhook.WebhookId })).DeadLetters);

        // The receiver takes the mailbox again: all 40 arrive, once each, in append order, and nothing stays pending.
        Interlocked.Exchange(ref healed, 1);
        await Eventually.WaitAsync(() => Task.FromResult(receiver.Accepted.Count(r => r.MailboxId == "m-poison") >= PoisonEvents), Wait, "the 40 poison events delivered");
        AssertDeliveredInOrderOnce(receiver, appended, "m-poison");
        await Eventually.WaitAsync(async () => await feed.PendingAsync(group) == 0, Wait, "nothing pending for the endpoint");
        var requests = receiver.Received.Where(r => r.MailboxId == "m-poison").Select(r => r.Id).ToList();
        for (var i = 1; i < requests.Count; i++) Assert.True(StreamIds.Compare(requests[i - 1], requests[i]) <= 0, $"m-poison: {requests[i]} after {requests[i - 1]}");
        Assert.All(receiver.Received, r => Assert.True(r.Verified));
    }

    [Fact]
    public async Task A_mailbox_failing_past_max_age_has_every_event_dead_lettered_in_order_while_the_others_are_delivered()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = r => r.MailboxId == "m-poison" ? 500 : 204;
        // A long attempt timeout: a healthy POST slowed down by a busy machine must not fail and be dead-lettered too.
        await using var feed = FeedHost.Start(TestRedis.Configuration, extra: SmallBuffer(("MailGrpc:Webhooks:MaxAge", "00:00:02"), ("MailGrpc:Webhooks:AttemptTimeout", "00:00:30")));
        var (webhook, secret) = await WebhookScenarios.CreateAsync(feed, receiver.Url);
        receiver.Secrets = [secret];
        var appended = await AppendAsync(feed);

        ListDeadLettersResponse? dead = null;
        await Eventually.WaitAsync(
            async () => (dead = await feed.Webhooks.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = webhook.WebhookId, PageSize = 100 })).DeadLetters.Count == PoisonEvents,
            Wait,
            "the 40 poison events dead-lettered");
        Assert.Equal(appended.Where(a => a.Mailbox == "m-poison").Select(a => a.Id), dead!.DeadLetters.Select(d => d.Event.Id));
        Assert.All(dead.DeadLetters, d =>
        {
            Assert.Equal(500, d.LastStatusCode);
            Assert.Equal("m-poison", d.Event.MailboxId);
        });
        await Eventually.WaitAsync(() => Task.FromResult(receiver.Accepted.Count == Healthy.Length * HealthyPerMailbox), Wait, "the healthy mailboxes' 30 events delivered");
        foreach (var mailbox in Healthy) AssertDeliveredInOrderOnce(receiver, appended, mailbox);
        await Eventually.WaitAsync(async () => await feed.PendingAsync("webhook." + webhook.WebhookId) == 0, Wait, "nothing pending for the endpoint");
    }
}
