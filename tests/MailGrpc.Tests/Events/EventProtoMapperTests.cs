using Google.Protobuf.WellKnownTypes;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Events;
using MailGrpc.Server.GrpcApi;
using MailGrpc.V1;

namespace MailGrpc.Tests.Events;

/// <summary>SubscribeEvents' request validation and the event mapping: data_json always, typed data per known type.</summary>
[Trait("Layer", "Fast")]
public sealed class EventProtoMapperTests
{
    private static readonly TimeSpan DefaultVisibility = TimeSpan.FromSeconds(30);
    private static readonly DateTimeOffset At = new(2026, 12, 7, 3, 0, 0, TimeSpan.Zero);

    private static Event Map(string type, string data) => new StoredEvent("1796612400000-3", new MailEvent(type, "m-1", At, data)).ToProto();

    [Fact]
    public void A_message_arrived_event_carries_its_typed_data_and_the_raw_json()
    {
        const string data = """{"mailbox_id":"m-1","uid":"UID-17","size":1234,"envelope":{"from":"Ann <ann@example.com>","to":["bob@example.com",{"name":"Cy","address":"cy@example.com"}],"subject":"Hello","date":"Mon, 7 Dec 2026 03:00:00 +0000","message_id":"abc@example.com"}}""";
        var e = Map("message.arrived", data);
        Assert.Equal("1796612400000-3", e.Id);
        Assert.Equal("message.arrived", e.Type);
        Assert.Equal("m-1", e.MailboxId);
        Assert.Equal(Timestamp.FromDateTimeOffset(At), e.OccurredAt);
        Assert.Equal(data, e.DataJson);
        Assert.Equal(Event.DataOneofCase.MessageArrived, e.DataCase);
        Assert.Equal("UID-17", e.MessageArrived.Uid);
        Assert.Equal(1234, e.MessageArrived.Size);
        Assert.Equal("Ann <ann@example.com>", e.MessageArrived.Envelope.From);
        Assert.Equal("bob@example.com, Cy <cy@example.com>", e.MessageArrived.Envelope.To);
        Assert.Equal("Hello", e.MessageArrived.Envelope.Subject);
        Assert.Equal("abc@example.com", e.MessageArrived.Envelope.MessageId);
    }

    [Fact]
    public void The_other_types_map_to_their_messages()
    {
        Assert.Equal("7", Map("message.removed", """{"mailbox_id":"m-1","uid":"7"}""").MessageRemoved.Uid);
        var changed = Map("mailbox.state_changed", """{"mailbox_id":"m-1","state":"REAUTHORIZATION_REQUIRED","previous_state":"ACTIVE","reason":"INVALID_GRANT"}""").MailboxStateChanged;
        Assert.Equal(("REAUTHORIZATION_REQUIRED", "ACTIVE", "INVALID_GRANT"), (changed.State, changed.PreviousState, changed.Reason));
        var failing = Map("mailbox.sync_failing", """{"mailbox_id":"m-1","reason":"POP3_TIMEOUT","message":"timed out","consecutive_failures":3}""").MailboxSyncFailing;
        Assert.Equal(("POP3_TIMEOUT", "timed out", 3), (failing.Reason, failing.Message, failing.ConsecutiveFailures));
        Assert.Equal(Event.DataOneofCase.MailboxSyncRecovered, Map("mailbox.sync_recovered", """{"mailbox_id":"m-1"}""").DataCase);
    }

    [Fact]
    public void Unknown_types_and_malformed_data_keep_data_json_without_typed_data()
    {
        var future = Map("mailbox.renamed", """{"mailbox_id":"m-1","name":"x"}""");
        Assert.Equal(Event.DataOneofCase.None, future.DataCase);
        Assert.Equal("""{"mailbox_id":"m-1","name":"x"}""", future.DataJson);
        var broken = Map("message.arrived", "{broken");
        Assert.Equal(Event.DataOneofCase.None, broken.DataCase);
        Assert.Equal("{broken", broken.DataJson);
    }

    [Fact]
    public void A_valid_request_becomes_a_subscription_with_its_filters_and_defaults()
    {
        var s = new SubscribeEventsRequest { ConsumerGroup = "billing", Consumer = "pod-1", EventTypes = { "message.arrived", "message.arrived" }, MailboxIds = { "m-1" } }.ToSubscription(DefaultVisibility);
        Assert.Equal(("billing", "pod-1", false, DefaultVisibility), (s.Group, s.Consumer, s.FromEarliest, s.VisibilityTimeout));
        Assert.Equal(["message.arrived"], s.EventTypes);
        Assert.True(s.Matches(new MailEvent("message.arrived", "m-1", At, "{}")));
        Assert.False(s.Matches(new MailEvent("message.removed", "m-1", At, "{}")));
        Assert.False(s.Matches(new MailEvent("message.arrived", "m-2", At, "{}")));
        var earliest = new SubscribeEventsRequest { ConsumerGroup = "g", Consumer = "c", Start = SubscribeStart.Earliest, VisibilityTimeout = Duration.FromTimeSpan(TimeSpan.FromSeconds(5)) }.ToSubscription(DefaultVisibility);
        Assert.True(earliest.FromEarliest);
        Assert.Equal(TimeSpan.FromSeconds(5), earliest.VisibilityTimeout);
    }

    public static TheoryData<SubscribeEventsRequest, string, string> BadRequests => new()
    {
        { new() { ConsumerGroup = "", Consumer = "c" }, ErrorReasons.InvalidConsumerGroup, "consumer_group" },
        { new() { ConsumerGroup = "webhook.wh-0123456789abcdef", Consumer = "c" }, ErrorReasons.InvalidConsumerGroup, "consumer_group" },
        { new() { ConsumerGroup = "has space", Consumer = "c" }, ErrorReasons.InvalidConsumerGroup, "consumer_group" },
        { new() { ConsumerGroup = new string('g', 101), Consumer = "c" }, ErrorReasons.InvalidConsumerGroup, "consumer_group" },
        { new() { ConsumerGroup = "g", Consumer = "" }, ErrorReasons.InvalidConsumer, "consumer" },
        { new() { ConsumerGroup = "g", Consumer = "c", EventTypes = { "Message.Arrived" } }, ErrorReasons.InvalidEventType, "event_types" },
        { new() { ConsumerGroup = "g", Consumer = "c", EventTypes = { Enumerable.Range(0, 33).Select(i => "t" + i) } }, ErrorReasons.InvalidEventType, "event_types" },
        { new() { ConsumerGroup = "g", Consumer = "c", MailboxIds = { "Not_A_Mailbox" } }, ErrorReasons.InvalidMailboxId, "mailbox_ids" },
        { new() { ConsumerGroup = "g", Consumer = "c", VisibilityTimeout = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(500)) }, ErrorReasons.InvalidVisibilityTimeout, "visibility_timeout" },
        { new() { ConsumerGroup = "g", Consumer = "c", VisibilityTimeout = Duration.FromTimeSpan(TimeSpan.FromHours(13)) }, ErrorReasons.InvalidVisibilityTimeout, "visibility_timeout" },
        { new() { ConsumerGroup = "g", Consumer = "c", Start = (SubscribeStart)7 }, ErrorReasons.InvalidArgument, "start" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void Bad_requests_fail_with_a_precise_reason_naming_the_field(SubscribeEventsRequest request, string reason, string field)
    {
        var e = Assert.Throws<MailGrpcException>(() => request.ToSubscription(DefaultVisibility));
        Assert.Equal(reason, e.Reason);
        Assert.Equal(field, e.Metadata[Failures.FieldKey]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public void Acknowledging_needs_1_to_1000_ids(int count) =>
        Assert.Equal(ErrorReasons.InvalidEventId, Assert.Throws<MailGrpcException>(() => new AcknowledgeEventsRequest { ConsumerGroup = "g", EventIds = { Enumerable.Range(1, count).Select(i => $"{i}-0") } }.ToEventIds()).Reason);

    [Theory]
    [InlineData("abc")]
    [InlineData("12")]
    [InlineData("1-2-3")]
    [InlineData("-1-0")]
    public void Acknowledging_refuses_ids_that_are_not_stream_ids(string id) =>
        Assert.Equal(ErrorReasons.InvalidEventId, Assert.Throws<MailGrpcException>(() => new AcknowledgeEventsRequest { ConsumerGroup = "g", EventIds = { id } }.ToEventIds()).Reason);
}
