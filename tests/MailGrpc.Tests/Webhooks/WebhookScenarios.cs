using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Webhooks;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Webhooks;

/// <summary>Webhook delivery through the real gRPC surface, a real Redis and a real HTTP receiver; run on one Redis and on the rig's Cluster.</summary>
internal static class WebhookScenarios
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    public static async Task<(Webhook Webhook, WebhookSecret Secret)> CreateAsync(FeedHost feed, Uri url, params string[] types)
    {
        var created = await feed.Webhooks.CreateWebhookAsync(new CreateWebhookRequest { Webhook = new Webhook { Url = url.ToString(), Enabled = true, EventTypes = { types }, Description = "test" } });
        Assert.StartsWith("whsec_", created.Secret, StringComparison.Ordinal);
        Assert.True(WebhookSecret.TryParse(created.Secret, out var secret));
        return (created.Webhook, secret);
    }

    /// <summary>
    /// A receiver that fails the first requests: every event is delivered, signed so the verifier accepts it, accepted
    /// exactly once, with webhook-id = the event id; per mailbox, no event reaches the receiver before every earlier
    /// event of that mailbox was accepted; the endpoint's group has nothing pending at the end.
    /// </summary>
    public static async Task DeliversSignedOncePerEventInMailboxOrderAfterFailuresAsync(string redis)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var feed = FeedHost.Start(redis);
        var failuresLeft = 8;
        receiver.Respond = _ => Interlocked.Decrement(ref failuresLeft) >= 0 ? 503 : 204;
        var (webhook, secret) = await CreateAsync(feed, receiver.Url);
        receiver.Secrets = [secret];

        var appended = new List<(string Id, string Mailbox, int Uid)>();
        for (var uid = 1; uid <= 6; uid++)
        {
            foreach (var mailbox in new[] { "m-a", "m-b", "m-c" })
            {
                appended.Add((await feed.ArriveAsync(mailbox, uid), mailbox, uid));
            }
        }

        await Eventually.WaitAsync(() => Task.FromResult(receiver.Accepted.Select(r => r.Id).Distinct().Count() == appended.Count), Wait, "all 18 events accepted");
        await Eventually.WaitAsync(async () => await feed.PendingAsync("webhook." + webhook.WebhookId) == 0, Wait, "the endpoint's group to have nothing pending");

        var accepted = receiver.Accepted;
        Assert.True(receiver.Received.Count > accepted.Count, "the receiver failed some requests first");
        Assert.All(receiver.Received, r => Assert.True(r.Verified, $"signature of {r.Id} did not verify"));
        Assert.Equal(appended.Count, accepted.Count); // each event accepted exactly once
        Assert.Equal(appended.Select(a => a.Id).Order(), accepted.Select(r => r.Id).Order());
        foreach (var (id, mailbox, uid) in appended)
        {
            var body = System.Text.Json.JsonDocument.Parse(accepted.Single(r => r.Id == id).Body).RootElement;
            Assert.Equal("message.arrived", body.GetProperty("type").GetString());
            Assert.Equal(FeedHost.ArrivedData(mailbox, uid), body.GetProperty("data").GetRawText());
        }

        foreach (var mailbox in new[] { "m-a", "m-b", "m-c" })
        {
            // Every request of the mailbox, retries included, in arrival order: ids never go back.
            var seen = receiver.Received.Where(r => r.MailboxId == mailbox).Select(r => r.Id).ToList();
            for (var i = 1; i < seen.Count; i++) Assert.True(StreamIds.Compare(seen[i - 1], seen[i]) <= 0, $"{mailbox}: {seen[i]} after {seen[i - 1]}");
            Assert.Equal(appended.Where(a => a.Mailbox == mailbox).Select(a => a.Id), accepted.Where(r => r.MailboxId == mailbox).Select(r => r.Id));
        }

        // Reading and listing never show the secret (the messages have no field for it) and find the endpoint.
        var got = (await feed.Webhooks.GetWebhookAsync(new GetWebhookRequest { WebhookId = webhook.WebhookId })).Webhook;
        Assert.Equal(receiver.Url.ToString(), got.Url);
        Assert.DoesNotContain(secret.Serialized, got.ToString(), StringComparison.Ordinal);
        Assert.Contains((await feed.Webhooks.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks, w => w.WebhookId == webhook.WebhookId);
    }

    /// <summary>
    /// A receiver that is down (nothing listens) past MaxAge: the events are dead-lettered with the failure named, listed
    /// in order; once it is back, redelivering them delivers each with its original id and empties the dead letters.
    /// </summary>
    public static async Task DeadLettersPastMaxAgeAndRedeliversAsync(string redis)
    {
        int port;
        await using (var probe = await WebhookReceiver.StartAsync())
        {
            port = probe.Url.Port;
        }

        await using var feed = FeedHost.Start(redis, extra: new Dictionary<string, string?> { ["MailGrpc:Webhooks:MaxAge"] = "00:00:01" });
        var url = new Uri($"http://127.0.0.1:{port}/hook");
        var (webhook, secret) = await CreateAsync(feed, url);
        var ids = new List<string>();
        for (var uid = 1; uid <= 3; uid++) ids.Add(await feed.ArriveAsync("m-down", uid));

        ListDeadLettersResponse? dead = null;
        await Eventually.WaitAsync(async () => (dead = await feed.Webhooks.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = webhook.WebhookId })).DeadLetters.Count == 3, Wait, "3 dead letters");
        Assert.Equal(ids, dead!.DeadLetters.Select(d => d.Event.Id));
        Assert.All(dead.DeadLetters, d =>
        {
            Assert.Equal(0, d.LastStatusCode);
            Assert.Equal("connect_failed", d.LastError);
            Assert.True(d.Attempts >= 1);
            Assert.Equal("m-down", d.Event.MailboxId);
            Assert.Equal(Event.DataOneofCase.MessageArrived, d.Event.DataCase);
        });
        Assert.Equal(0, await feed.PendingAsync("webhook." + webhook.WebhookId));

        // Paging: one at a time, in order.
        var first = await feed.Webhooks.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = webhook.WebhookId, PageSize = 1 });
        var second = await feed.Webhooks.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = webhook.WebhookId, PageSize = 1, PageToken = first.NextPageToken });
        Assert.Equal(ids[..2], first.DeadLetters.Concat(second.DeadLetters).Select(d => d.Event.Id));

        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, ErrorReasons.InvalidDeadLetterId, async () => await feed.Webhooks.RedeliverDeadLettersAsync(new RedeliverDeadLettersRequest { WebhookId = webhook.WebhookId }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, ErrorReasons.InvalidDeadLetterId, async () => await feed.Webhooks.RedeliverDeadLettersAsync(new RedeliverDeadLettersRequest { WebhookId = webhook.WebhookId, All = true, DeadLetterIds = { "1-0" } }));
        await RpcAssert.FailsAsync(StatusCode.NotFound, ErrorReasons.WebhookNotFound, async () => await feed.Webhooks.RedeliverDeadLettersAsync(new RedeliverDeadLettersRequest { WebhookId = "wh-0000000000000000", All = true }));

        await using var receiver = await WebhookReceiver.StartAsync(port);
        receiver.Secrets = [secret];
        var one = await feed.Webhooks.RedeliverDeadLettersAsync(new RedeliverDeadLettersRequest { WebhookId = webhook.WebhookId, DeadLetterIds = { dead.DeadLetters[0].DeadLetterId, "1-0" } });
        Assert.Equal(1, one.RedeliveredCount);
        await Eventually.WaitAsync(() => Task.FromResult(receiver.Accepted.Count == 1), Wait, "the first redelivered event");
        var rest = await feed.Webhooks.RedeliverDeadLettersAsync(new RedeliverDeadLettersRequest { WebhookId = webhook.WebhookId, All = true });
        Assert.Equal(2, rest.RedeliveredCount);
        await Eventually.WaitAsync(() => Task.FromResult(receiver.Accepted.Count == 3), Wait, "all 3 redelivered events");
        Assert.Equal(ids, receiver.Accepted.Select(r => r.Id));
        Assert.All(receiver.Accepted, r => Assert.True(r.Verified));
        await Eventually.WaitAsync(async () => (await feed.Webhooks.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = webhook.WebhookId })).DeadLetters.Count == 0, Wait, "no dead letters left");
    }

    /// <summary>Rotation: for the overlap both secrets sign (two v1 signatures); update, filters, disable, delete; another tenant sees nothing.</summary>
    public static async Task ManagesEndpointsRotatesSecretsAndFiltersAsync(string redis)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var feed = FeedHost.Start(redis);
        var (webhook, oldSecret) = await CreateAsync(feed, receiver.Url, "message.removed");
        var rotated = await feed.Webhooks.RotateWebhookSecretAsync(new RotateWebhookSecretRequest { WebhookId = webhook.WebhookId });
        Assert.True(WebhookSecret.TryParse(rotated.Secret, out var newSecret));
        Assert.NotEqual(oldSecret.Serialized, newSecret.Serialized);

        // Only the filtered type is delivered; the other is acknowledged for the endpoint without a request. The worker picks
        // the rotation up within RefreshInterval (docs/webhooks.md): until then a delivery carries the old signature alone,
        // which a receiver that keeps the old secret for the overlap still verifies. Wait for the first one signed by both.
        receiver.Secrets = [oldSecret, newSecret];
        var uid = 0;
        string? removed = null;
        ReceivedWebhook? request = null;
        await Eventually.WaitAsync(
            async () =>
            {
                if (removed is null || receiver.Accepted.Any(r => r.Id == removed))
                {
                    request = receiver.Accepted.FirstOrDefault(r => r.Signature.Split(' ').Length == 2);
                    if (request is not null)
                    {
                        return true;
                    }

                    uid++;
                    await feed.ArriveAsync("m-f", uid);
                    removed = await feed.RemoveAsync("m-f", uid);
                }

                return false;
            },
            TimeSpan.FromSeconds(30),
            "a message.removed delivery signed with both secrets");
        Assert.All(receiver.Received, r => Assert.Equal("message.removed", r.Type));
        Assert.Equal(removed, request!.Id);
        var acceptedBefore = receiver.Accepted.Count;
        receiver.Secrets = [oldSecret];
        Assert.True(Verify(request, oldSecret) && Verify(request, newSecret));

        // Disabled: nothing is sent; enabled again: the event that waited is delivered.
        var disabled = await feed.Webhooks.UpdateWebhookAsync(new UpdateWebhookRequest { Webhook = new Webhook { WebhookId = webhook.WebhookId, Enabled = false }, UpdateMask = new FieldMask { Paths = { "enabled" } } });
        Assert.False(disabled.Webhook.Enabled);
        Assert.Equal(["message.removed"], disabled.Webhook.EventTypes);
        var waited = await WaitForWorkerToSeeAsync(feed, webhook.WebhookId, disabled: true);
        var late = await feed.RemoveAsync("m-f", 1000);
        await feed.Webhooks.UpdateWebhookAsync(new UpdateWebhookRequest { Webhook = new Webhook { WebhookId = webhook.WebhookId, Enabled = true }, UpdateMask = new FieldMask { Paths = { "enabled" } } });
        await Eventually.WaitAsync(() => Task.FromResult(receiver.Accepted.Count == acceptedBefore + 1), TimeSpan.FromSeconds(30), "the event appended while disabled");
        Assert.Equal(late, receiver.Accepted[acceptedBefore].Id);
        Assert.True(waited);

        // Validation and tenancy.
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, ErrorReasons.InvalidWebhookId, async () => await feed.Webhooks.GetWebhookAsync(new GetWebhookRequest { WebhookId = "nope" }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, ErrorReasons.InvalidUpdateMask, async () => await feed.Webhooks.UpdateWebhookAsync(new UpdateWebhookRequest { Webhook = new Webhook { WebhookId = webhook.WebhookId }, UpdateMask = new FieldMask { Paths = { "secret" } } }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, ErrorReasons.InvalidEventType, async () => await feed.Webhooks.UpdateWebhookAsync(new UpdateWebhookRequest { Webhook = new Webhook { WebhookId = webhook.WebhookId, EventTypes = { "NOT A TYPE" } }, UpdateMask = new FieldMask { Paths = { "event_types" } } }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, ErrorReasons.InvalidArgument, async () => await feed.Webhooks.CreateWebhookAsync(new CreateWebhookRequest()));
        await using (var other = FeedHost.Start(redis))
        {
            await RpcAssert.FailsAsync(StatusCode.NotFound, ErrorReasons.WebhookNotFound, async () => await other.Webhooks.GetWebhookAsync(new GetWebhookRequest { WebhookId = webhook.WebhookId }));
            Assert.Empty((await other.Webhooks.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks);
        }

        await feed.Webhooks.DeleteWebhookAsync(new DeleteWebhookRequest { WebhookId = webhook.WebhookId });
        await RpcAssert.FailsAsync(StatusCode.NotFound, ErrorReasons.WebhookNotFound, async () => await feed.Webhooks.GetWebhookAsync(new GetWebhookRequest { WebhookId = webhook.WebhookId }));
        await RpcAssert.FailsAsync(StatusCode.NotFound, ErrorReasons.WebhookNotFound, async () => await feed.Webhooks.DeleteWebhookAsync(new DeleteWebhookRequest { WebhookId = webhook.WebhookId }));
        var groups = await feed.Redis.GetDatabase().StreamGroupInfoAsync(Server.Events.EventLogKeys.Stream(feed.Tenant.Name));
        Assert.DoesNotContain(groups, g => g.Name == "webhook." + webhook.WebhookId);
    }

    private static bool Verify(ReceivedWebhook request, WebhookSecret secret) =>
        new WebhookVerifier(TimeProvider.System).Verify(request.Body, request.Id, request.Timestamp, request.Signature, secret).IsValid;

    /// <summary>
    /// Waits until the delivery worker stopped reading the disabled endpoint's group: a marker event (of a type the
    /// endpoint filters out, so an enabled worker acknowledges it within a poll) stays unread for 10 poll intervals.
    /// </summary>
    private static async Task<bool> WaitForWorkerToSeeAsync(FeedHost feed, string webhookId, bool disabled)
    {
        string? marker = null;
        var markerAt = 0L;
        await Eventually.WaitAsync(
            async () =>
            {
                var info = await feed.Redis.GetDatabase().StreamGroupInfoAsync(Server.Events.EventLogKeys.Stream(feed.Tenant.Name));
                var lastRead = info.Single(g => g.Name == "webhook." + webhookId).LastDeliveredId ?? "0-0";
                if (marker is not null && StreamIds.Compare(lastRead, marker) < 0)
                {
                    return System.Diagnostics.Stopwatch.GetElapsedTime(markerAt) > TimeSpan.FromMilliseconds(500);
                }

                marker = await feed.ArriveAsync("m-marker", 1);
                markerAt = System.Diagnostics.Stopwatch.GetTimestamp();
                return false;
            },
            TimeSpan.FromSeconds(15),
            "the worker to stop reading while disabled");
        return disabled;
    }

    /// <summary>SSRF: refused at registration (nothing written), and at connect when the setting that allowed loopback is gone.</summary>
    public static async Task RefusesPrivateUrlsAtRegistrationAndAtConnectAsync(string redis)
    {
        var tenant = TestTenant.Create("ssrf");
        await using (var strict = FeedHost.Start(redis, tenant, allowLoopback: false, extra: new Dictionary<string, string?> { ["MailGrpc:Webhooks:MaxEndpointsPerTenant"] = "2" }))
        {
            foreach (var (url, reason, code) in new[]
            {
                ("http://127.0.0.1:8080/hook", ErrorReasons.InvalidWebhookUrl, StatusCode.InvalidArgument),
                ("https://127.0.0.1/hook", ErrorReasons.WebhookUrlNotAllowed, StatusCode.PermissionDenied),
                ("https://localhost/hook", ErrorReasons.WebhookUrlNotAllowed, StatusCode.PermissionDenied),
                ("https://metadata.google.internal/computeMetadata/v1/", ErrorReasons.WebhookUrlNotAllowed, StatusCode.PermissionDenied),
                ("https://169.254.169.254/latest/meta-data/", ErrorReasons.WebhookUrlNotAllowed, StatusCode.PermissionDenied),
                ("https://10.1.2.3/hook", ErrorReasons.WebhookUrlNotAllowed, StatusCode.PermissionDenied),
                ("https://[::1]/hook", ErrorReasons.WebhookUrlNotAllowed, StatusCode.PermissionDenied),
                ("https://user:secret-token@hooks.example.com/x", ErrorReasons.InvalidWebhookUrl, StatusCode.InvalidArgument),
            })
            {
                var e = await RpcAssert.FailsAsync(code, reason, async () => await strict.Webhooks.CreateWebhookAsync(new CreateWebhookRequest { Webhook = new Webhook { Url = url, Enabled = true } }));
                Assert.DoesNotContain("secret-token", e.Status.Detail, StringComparison.Ordinal);
            }

            Assert.Empty((await strict.Webhooks.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks);
        }

        // Registered while loopback was allowed, delivered by a server where it is not: refused at connect, no request sent.
        await using var receiver = await WebhookReceiver.StartAsync();
        string webhookId;
        await using (var lenient = FeedHost.Start(redis, tenant))
        {
            webhookId = (await CreateAsync(lenient, receiver.Url)).Webhook.WebhookId;
        }

        await using var strictDelivery = FeedHost.Start(redis, tenant, allowLoopback: false, extra: new Dictionary<string, string?> { ["MailGrpc:Webhooks:MaxAge"] = "00:00:01", ["MailGrpc:Webhooks:MaxEndpointsPerTenant"] = "1" });
        var id = await strictDelivery.ArriveAsync("m-ssrf", 1);
        ListDeadLettersResponse? dead = null;
        await Eventually.WaitAsync(async () => (dead = await strictDelivery.Webhooks.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = webhookId })).DeadLetters.Count == 1, Wait, "the refused delivery dead-lettered");
        Assert.Equal(id, dead!.DeadLetters[0].Event.Id);
        Assert.Equal(ErrorReasons.WebhookUrlNotAllowed, dead.DeadLetters[0].LastError);
        Assert.Empty(receiver.Received);

        // The limit counts the endpoint that exists.
        await RpcAssert.FailsAsync(StatusCode.ResourceExhausted, ErrorReasons.WebhookLimitReached, async () => await strictDelivery.Webhooks.CreateWebhookAsync(new CreateWebhookRequest { Webhook = new Webhook { Url = "https://203.0.113.7/hook", Enabled = true } }));
        await strictDelivery.Webhooks.DeleteWebhookAsync(new DeleteWebhookRequest { WebhookId = webhookId });
    }
}
