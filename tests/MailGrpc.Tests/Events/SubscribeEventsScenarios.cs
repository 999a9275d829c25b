using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using MailGrpc.Server.Errors;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Webhooks;
using MailGrpc.V1;

namespace MailGrpc.Tests.Events;

/// <summary>SubscribeEvents / AcknowledgeEvents through the real gRPC surface on a real Redis; run on one Redis and on the rig's Cluster.</summary>
internal static class SubscribeEventsScenarios
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static SubscribeEventsRequest Request(string group, string consumer, TimeSpan? visibility = null) =>
        new() { ConsumerGroup = group, Consumer = consumer, VisibilityTimeout = Duration.FromTimeSpan(visibility ?? TimeSpan.FromHours(1)) };

    /// <summary>Two instances of one group share the events: each event to exactly one of them (and each instance gets some); acknowledged, nothing stays pending.</summary>
    public static async Task TwoConsumersOfOneGroupShareTheEventsAsync(string redis)
    {
        await using var feed = FeedHost.Start(redis);
        await using var a = await Subscriber.StartAsync(feed, Request("billing", "instance-a"));
        await using var b = await Subscriber.StartAsync(feed, Request("billing", "instance-b"));
        var ids = new List<string>();
        for (var uid = 1; uid <= 40; uid++) ids.Add(await feed.ArriveAsync(uid % 2 == 0 ? "m-a" : "m-b", uid));

        // An idle instance takes everything appended since its last read, so a fast burst can land on one of them:
        // keep appending, spaced by the wait's own polling, until each instance has had a share.
        await Eventually.WaitAsync(
            async () =>
            {
                if (a.Received.Count > 0 && b.Received.Count > 0) return true;
                ids.Add(await feed.ArriveAsync("m-c", ids.Count + 1));
                return false;
            },
            Wait,
            "both instances to get a share");
        await Eventually.WaitAsync(() => Task.FromResult(a.Received.Count + b.Received.Count >= ids.Count), Wait, "every event over both instances");
        var got = a.Received.Concat(b.Received).Select(r => r.Event.Id).ToList();
        Assert.Equal(ids.Order(), got.Order());                       // each exactly once across the group
        Assert.NotEmpty(a.Received);
        Assert.NotEmpty(b.Received);
        Assert.All(a.Received.Concat(b.Received), r => Assert.False(r.Redelivered));
        Assert.Equal(ids.Where(i => a.Received.Any(r => r.Event.Id == i)), a.Received.Select(r => r.Event.Id)); // each in stream order
        var first = a.Received[0].Event;
        Assert.Equal(Event.DataOneofCase.MessageArrived, first.DataCase);
        Assert.Equal(first.MailboxId, System.Text.Json.JsonDocument.Parse(first.DataJson).RootElement.GetProperty("mailbox_id").GetString());

        var acked = await feed.Events.AcknowledgeEventsAsync(new AcknowledgeEventsRequest { ConsumerGroup = "billing", EventIds = { ids } });
        Assert.Equal(ids.Count, acked.AcknowledgedCount);
        Assert.Equal(0, await feed.PendingAsync("billing"));
        Assert.Equal(0, (await feed.Events.AcknowledgeEventsAsync(new AcknowledgeEventsRequest { ConsumerGroup = "billing", EventIds = { ids } })).AcknowledgedCount);
    }

    /// <summary>A killed instance's unacknowledged events go to a live one of the group once the visibility timeout passed, not before.</summary>
    public static async Task AKilledConsumersEventsAreTakenOverAfterTheVisibilityTimeoutAsync(string redis)
    {
        var visibility = TimeSpan.FromSeconds(1);
        await using var feed = FeedHost.Start(redis);
        var a = await Subscriber.StartAsync(feed, Request("audit", "instance-a", visibility));
        var ids = new List<string>();
        for (var uid = 1; uid <= 5; uid++) ids.Add(await feed.ArriveAsync("m-t", uid));
        await Eventually.WaitAsync(() => Task.FromResult(a.Received.Count == 5), Wait, "instance-a to get 5 events");
        // Each event's visibility timeout runs from its own delivery: the first one (which B gets first) may be taken over
        // before the last one was even delivered when the five arrivals were spread out on a loaded machine, so the
        // lower bound is measured from when A got the first.
        var firstGiven = a.Timed[0].At;
        await a.DisposeAsync(); // crashed: nothing acknowledged

        await using var b = await Subscriber.StartAsync(feed, Request("audit", "instance-b", visibility));
        await Eventually.WaitAsync(() => Task.FromResult(b.Received.Count == 5), Wait, "instance-b to take over 5 events");
        Assert.Equal(ids, b.Received.Select(r => r.Event.Id));
        Assert.All(b.Received, r => Assert.True(r.Redelivered));
        var waited = Stopwatch.GetElapsedTime(firstGiven, b.Timed[0].At);
        Assert.True(waited >= visibility - TimeSpan.FromMilliseconds(100), $"taken over after {waited.TotalMilliseconds} ms, before the visibility timeout");
        await feed.Events.AcknowledgeEventsAsync(new AcknowledgeEventsRequest { ConsumerGroup = "audit", EventIds = { ids } });
        Assert.Equal(0, await feed.PendingAsync("audit"));
    }

    /// <summary>A reconnect under the same name gets its unacknowledged events first, in order, then new ones; acknowledged ones never again.</summary>
    public static async Task AReconnectResumesItsPendingEventsFirstAsync(string redis)
    {
        await using var feed = FeedHost.Start(redis);
        var first = await Subscriber.StartAsync(feed, Request("resume", "pod-0"));
        var ids = new List<string>();
        for (var uid = 1; uid <= 3; uid++) ids.Add(await feed.ArriveAsync("m-r", uid));
        await Eventually.WaitAsync(() => Task.FromResult(first.Received.Count == 3), Wait, "3 events");
        await first.DisposeAsync();

        var again = await Subscriber.StartAsync(feed, Request("resume", "pod-0"));
        var fourth = await feed.ArriveAsync("m-r", 4);
        await Eventually.WaitAsync(() => Task.FromResult(again.Received.Count == 4), Wait, "3 resumed events and the new one");
        Assert.Equal([.. ids, fourth], again.Received.Select(r => r.Event.Id));
        Assert.Equal([true, true, true, false], again.Received.Select(r => r.Redelivered));
        await feed.Events.AcknowledgeEventsAsync(new AcknowledgeEventsRequest { ConsumerGroup = "resume", EventIds = { ids.Append(fourth) } });
        await again.DisposeAsync();

        await using var third = await Subscriber.StartAsync(feed, Request("resume", "pod-0"));
        var fifth = await feed.ArriveAsync("m-r", 5);
        await Eventually.WaitAsync(() => Task.FromResult(third.Received.Count >= 1), Wait, "the fifth event");
        Assert.Equal(fifth, Assert.Single(third.Received).Event.Id);
    }

    /// <summary>Filters by type and mailbox: only matching events are streamed; the others are acknowledged for the group at once.</summary>
    public static async Task FiltersStreamOnlyMatchingEventsAsync(string redis)
    {
        await using var feed = FeedHost.Start(redis);
        var request = Request("filtered", "c1");
        request.EventTypes.Add("message.removed");
        request.MailboxIds.Add("m-b");
        await using var s = await Subscriber.StartAsync(feed, request);
        await feed.ArriveAsync("m-b", 1);
        await feed.RemoveAsync("m-a", 1);
        var r1 = await feed.RemoveAsync("m-b", 1);
        await feed.ArriveAsync("m-a", 2);
        var r2 = await feed.RemoveAsync("m-b", 2);
        var after = await feed.RemoveAsync("m-b", 3);
        await Eventually.WaitAsync(() => Task.FromResult(s.Received.Any(r => r.Event.Id == after)), Wait, "the last matching event");
        Assert.Equal([r1, r2, after], s.Received.Select(r => r.Event.Id));
        Assert.All(s.Received, r => Assert.Equal(Event.DataOneofCase.MessageRemoved, r.Event.DataCase));
        Assert.Equal("1", s.Received[0].Event.MessageRemoved.Uid);
        Assert.Equal(3, await feed.PendingAsync("filtered"));
    }

    /// <summary>Bad requests fail with their reason; callers without a key are refused; another tenant's group is another group.</summary>
    public static async Task RefusesBadRequestsAndKeepsTenantsApartAsync(string redis)
    {
        await using var feed = FeedHost.Start(redis);
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, ErrorReasons.InvalidConsumerGroup, async () =>
        {
            using var call = feed.Events.SubscribeEvents(Request("webhook.wh-0123456789abcdef", "c"));
            await call.ResponseStream.MoveNext();
        });
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, ErrorReasons.InvalidEventId, async () => await feed.Events.AcknowledgeEventsAsync(new AcknowledgeEventsRequest { ConsumerGroup = "g", EventIds = { "nope" } }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, ErrorReasons.InvalidConsumerGroup, async () => await feed.Events.AcknowledgeEventsAsync(new AcknowledgeEventsRequest { ConsumerGroup = "", EventIds = { "1-0" } }));
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, ErrorReasons.ApiKeyMissing, async () =>
        {
            using var call = new EventService.EventServiceClient(feed.Host.Invoker(null)).SubscribeEvents(Request("g", "c"));
            await call.ResponseStream.MoveNext();
        });

        await using var mine = await Subscriber.StartAsync(feed, Request("shared-name", "c"));
        await using var otherTenant = FeedHost.Start(redis);
        await using var theirs = await Subscriber.StartAsync(otherTenant, Request("shared-name", "c"));
        var id = await feed.ArriveAsync("m-x", 1);
        var theirId = await otherTenant.ArriveAsync("m-x", 1);
        await Eventually.WaitAsync(() => Task.FromResult(mine.Received.Count == 1 && theirs.Received.Count == 1), Wait, "one event each");
        Assert.Equal(id, mine.Received[0].Event.Id);
        Assert.Equal(theirId, theirs.Received[0].Event.Id);
    }
}
