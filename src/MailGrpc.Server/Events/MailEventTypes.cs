namespace MailGrpc.Server.Events;

/// <summary>The event types of a tenant's feed (the <c>type</c> of a webhook body; docs/events.md).</summary>
internal static class MailEventTypes
{
    /// <summary>A uid the mailbox did not have at the previous poll: <c>{"mailbox_id","uid","size","envelope"}</c>.</summary>
    public const string MessageArrived = "message.arrived";

    /// <summary>A uid the mailbox had and no longer has: <c>{"mailbox_id","uid"}</c>.</summary>
    public const string MessageRemoved = "message.removed";

    /// <summary>The mailbox's state changed: <c>{"mailbox_id","state","previous_state","reason"}</c>.</summary>
    public const string MailboxStateChanged = "mailbox.state_changed";

    /// <summary>The mailbox's polls started failing: <c>{"mailbox_id","reason","message","consecutive_failures"}</c>.</summary>
    public const string MailboxSyncFailing = "mailbox.sync_failing";

    /// <summary>A poll worked again after failures: <c>{"mailbox_id"}</c>.</summary>
    public const string MailboxSyncRecovered = "mailbox.sync_recovered";

    /// <summary>Every type, for filters and validation.</summary>
    public static IReadOnlyList<string> All { get; } = [MessageArrived, MessageRemoved, MailboxStateChanged, MailboxSyncFailing, MailboxSyncRecovered];
}
