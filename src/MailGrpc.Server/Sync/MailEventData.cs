using System.Text.Json;
using System.Text.Json.Serialization;
using MailGrpc.Server.Events;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Messages;

namespace MailGrpc.Server.Sync;

/// <summary>
/// Builds the events of the feed with their <c>data</c> JSON (snake_case, the webhook body's <c>data</c>): the one place
/// their shape is written (docs/sync.md, "Events").
/// </summary>
internal static class MailEventData
{
    public static MailEvent Arrived(string mailboxId, string uid, long size, MessageEnvelope envelope, DateTimeOffset at) =>
        new(MailEventTypes.MessageArrived, mailboxId, at, JsonSerializer.Serialize(
            new ArrivedData(mailboxId, uid, size, new EnvelopeData(
                envelope.From.Select(Address).ToArray(),
                envelope.To.Select(Address).ToArray(),
                envelope.Subject,
                envelope.Date,
                envelope.MessageId)),
            MailEventJsonContext.Default.ArrivedData));

    public static MailEvent Removed(string mailboxId, string uid, DateTimeOffset at) =>
        new(MailEventTypes.MessageRemoved, mailboxId, at, JsonSerializer.Serialize(new RemovedData(mailboxId, uid), MailEventJsonContext.Default.RemovedData));

    public static MailEvent StateChanged(string mailboxId, MailboxState state, MailboxState previous, string? reason, DateTimeOffset at) =>
        new(MailEventTypes.MailboxStateChanged, mailboxId, at, JsonSerializer.Serialize(
            new StateChangedData(mailboxId, StateName(state), StateName(previous), reason ?? string.Empty),
            MailEventJsonContext.Default.StateChangedData));

    public static MailEvent SyncFailing(string mailboxId, string reason, string message, int consecutiveFailures, DateTimeOffset at) =>
        new(MailEventTypes.MailboxSyncFailing, mailboxId, at, JsonSerializer.Serialize(
            new SyncFailingData(mailboxId, reason, message, consecutiveFailures), MailEventJsonContext.Default.SyncFailingData));

    public static MailEvent SyncRecovered(string mailboxId, DateTimeOffset at) =>
        new(MailEventTypes.MailboxSyncRecovered, mailboxId, at, JsonSerializer.Serialize(new SyncRecoveredData(mailboxId), MailEventJsonContext.Default.SyncRecoveredData));

    /// <summary>The API's <c>MailboxState</c> value name without its prefix (e.g. <c>REAUTHORIZATION_REQUIRED</c>).</summary>
    public static string StateName(MailboxState state) => state switch
    {
        MailboxState.PendingAuthorization => "PENDING_AUTHORIZATION",
        MailboxState.Active => "ACTIVE",
        MailboxState.ReauthorizationRequired => "REAUTHORIZATION_REQUIRED",
        MailboxState.Disabled => "DISABLED",
        _ => "UNSPECIFIED",
    };

    private static AddressData Address(MailAddress address) => new(address.Name, address.Address);
}

internal sealed record AddressData(string Name, string Address);

internal sealed record EnvelopeData(AddressData[] From, AddressData[] To, string Subject, DateTimeOffset? Date, string MessageId);

internal sealed record ArrivedData(string MailboxId, string Uid, long Size, EnvelopeData Envelope);

internal sealed record RemovedData(string MailboxId, string Uid);

internal sealed record StateChangedData(string MailboxId, string State, string PreviousState, string Reason);

internal sealed record SyncFailingData(string MailboxId, string Reason, string Message, int ConsecutiveFailures);

internal sealed record SyncRecoveredData(string MailboxId);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ArrivedData))]
[JsonSerializable(typeof(RemovedData))]
[JsonSerializable(typeof(StateChangedData))]
[JsonSerializable(typeof(SyncFailingData))]
[JsonSerializable(typeof(SyncRecoveredData))]
internal sealed partial class MailEventJsonContext : JsonSerializerContext;
