using System.Globalization;
using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Events;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>EventService's proto ⇄ domain conversions; events get their typed data parsed from the data JSON.</summary>
internal static class EventProtoMapper
{
    public static readonly TimeSpan MinVisibilityTimeout = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxVisibilityTimeout = TimeSpan.FromHours(12);

    /// <summary>The validated subscription; <paramref name="defaultVisibility"/> when the request sets none.</summary>
    public static EventSubscription ToSubscription(this V1.SubscribeEventsRequest request, TimeSpan defaultVisibility)
    {
        var group = EventNames.ValidateGroup(request.ConsumerGroup);
        var consumer = EventNames.ValidateConsumer(request.Consumer);
        var types = EventNames.ValidateEventTypes(request.EventTypes, "event_types");
        var mailboxes = EventNames.ValidateMailboxFilter(request.MailboxIds);
        var fromEarliest = request.Start switch
        {
            V1.SubscribeStart.Unspecified or V1.SubscribeStart.New => false,
            V1.SubscribeStart.Earliest => true,
            _ => throw Failures.InvalidArgument("start", "start is not a known SubscribeStart value."),
        };
        var visibility = defaultVisibility;
        if (request.VisibilityTimeout is { } duration)
        {
            if (duration.Seconds is < 0 or > 12 * 3600 || duration.Nanos is < 0 or > 999_999_999) throw Failures.InvalidVisibilityTimeout();
            visibility = duration.ToTimeSpan();
            if (visibility < MinVisibilityTimeout || visibility > MaxVisibilityTimeout) throw Failures.InvalidVisibilityTimeout();
        }

        return new EventSubscription(group, consumer, types, mailboxes, fromEarliest, visibility);
    }

    public static V1.SubscribeEventsResponse ToProto(this DeliveredEvent delivered) =>
        new() { Event = delivered.Stored.ToProto(), Redelivered = delivered.Redelivered };

    public static V1.Event ToProto(this StoredEvent stored)
    {
        var e = stored.Event;
        var proto = new V1.Event
        {
            Id = stored.Id,
            Type = e.Type,
            MailboxId = e.MailboxId,
            OccurredAt = Timestamp.FromDateTimeOffset(e.OccurredAt),
            DataJson = e.Data,
        };
        try
        {
            using var document = JsonDocument.Parse(string.IsNullOrEmpty(e.Data) ? "{}" : e.Data);
            var data = document.RootElement;
            if (data.ValueKind != JsonValueKind.Object) return proto;
            switch (e.Type)
            {
                case "message.arrived":
                    proto.MessageArrived = new V1.MessageArrivedData { Uid = Text(data, "uid"), Size = Number(data, "size"), Envelope = Envelope(data) };
                    break;
                case "message.removed":
                    proto.MessageRemoved = new V1.MessageRemovedData { Uid = Text(data, "uid") };
                    break;
                case "mailbox.state_changed":
                    proto.MailboxStateChanged = new V1.MailboxStateChangedData { State = Text(data, "state"), PreviousState = Text(data, "previous_state"), Reason = Text(data, "reason") };
                    break;
                case "mailbox.sync_failing":
                    proto.MailboxSyncFailing = new V1.MailboxSyncFailingData { Reason = Text(data, "reason"), Message = Text(data, "message"), ConsecutiveFailures = (int)Math.Clamp(Number(data, "consecutive_failures"), 0, int.MaxValue) };
                    break;
                case "mailbox.sync_recovered":
                    proto.MailboxSyncRecovered = new V1.MailboxSyncRecoveredData();
                    break;
            }
        }
        catch (JsonException)
        {
            // data_json still carries what was stored; no typed data for it.
        }

        return proto;
    }

    public static IReadOnlyList<string> ToEventIds(this V1.AcknowledgeEventsRequest request) => EventNames.ValidateEventIds(request.EventIds);

    private static V1.EventEnvelope? Envelope(JsonElement data)
    {
        if (!data.TryGetProperty("envelope", out var envelope) || envelope.ValueKind != JsonValueKind.Object) return null;
        return new V1.EventEnvelope
        {
            From = Text(envelope, "from"),
            To = Text(envelope, "to"),
            Subject = Text(envelope, "subject"),
            Date = Text(envelope, "date"),
            MessageId = Text(envelope, "message_id"),
        };
    }

    /// <summary>A property as text: a string as is, a number as written, addresses (strings or {name,address}) comma-separated.</summary>
    private static string Text(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) ? Text(value) : string.Empty;

    private static string Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString() ?? string.Empty,
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Array => string.Join(", ", value.EnumerateArray().Select(Text).Where(t => t.Length > 0)),
        JsonValueKind.Object => Address(value),
        _ => string.Empty,
    };

    private static string Address(JsonElement value)
    {
        var address = Text(value, "address");
        var name = Text(value, "name");
        return name.Length == 0 ? address : address.Length == 0 ? name : $"{name} <{address}>";
    }

    private static long Number(JsonElement parent, string name)
    {
        if (!parent.TryGetProperty(name, out var value)) return 0;
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n)) return n;
        return value.ValueKind == JsonValueKind.String && long.TryParse(value.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;
    }
}
