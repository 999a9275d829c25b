namespace MailGrpc.Server.Events;

/// <summary>
/// One event of a tenant's feed (message arrived, message removed, mailbox state changed, sync failing/recovered):
/// its dot-separated <paramref name="Type"/>, the mailbox it is about, when it happened, and its JSON
/// <paramref name="Data"/> (the webhook body's <c>data</c>).
/// </summary>
internal sealed record MailEvent(string Type, string MailboxId, DateTimeOffset OccurredAt, string Data);

/// <summary>
/// An event as stored in the tenant's stream. <paramref name="Id"/> is the Redis stream entry id: stable and unique
/// within the tenant, the same on every redelivery, so it is the dedupe key (the webhook-id of its deliveries).
/// </summary>
internal sealed record StoredEvent(string Id, MailEvent Event);

/// <summary>How long the feed keeps events and how deliveries are retried.</summary>
/// <param name="Retention">Events older than this are trimmed on append (XADD … MINID), acknowledged or not.</param>
/// <param name="MaxEntries">A cap on the stream's length (XTRIM MAXLEN) on top of the retention; null for none.</param>
/// <param name="ApproximateTrim">Trim with <c>~</c> (whole radix-tree nodes, much cheaper); exact only in tests.</param>
internal sealed record EventLogSettings(TimeSpan Retention, long? MaxEntries = null, bool ApproximateTrim = true)
{
    public static EventLogSettings Default { get; } = new(TimeSpan.FromDays(7), 1_000_000);
}
