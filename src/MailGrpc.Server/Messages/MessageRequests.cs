namespace MailGrpc.Server.Messages;

/// <summary>Which part of a message is sent (the numbers are the proto's, so the edge converts by value).</summary>
internal enum MessageView
{
    Unspecified = 0,
    Full = 1,
    Headers = 2,
}

/// <summary>ListMessages: a page of the mailbox's uids and sizes, optionally with envelopes and a consumer's acknowledgements.</summary>
internal sealed record ListMessagesQuery(string MailboxId, int PageSize, string PageToken, bool IncludeHeaders, string Consumer);

internal sealed record MessageListItem(string Uid, long Size, bool Acknowledged, MessageEnvelope? Envelope);

internal sealed record MessageListing(IReadOnlyList<MessageListItem> Messages, string NextPageToken, int TotalCount, long TotalSize);

/// <summary>StreamMessages: every message (or the given uids), optionally only what the consumer has not acknowledged.</summary>
internal sealed record StreamMessagesQuery(
    string MailboxId,
    string Consumer,
    bool OnlyUnacknowledged,
    MessageView View,
    int MaxMessages,
    long MaxBytes,
    IReadOnlyList<string> Uids);

/// <summary>GetMessage: one message by uid.</summary>
internal sealed record GetMessageQuery(string MailboxId, string Uid, MessageView View);

/// <summary>WatchMessages: messages as they arrive.</summary>
internal sealed record WatchMessagesQuery(string MailboxId, string Consumer, MessageView View, bool IncludeExisting);

/// <summary>AcknowledgeMessages: record uids in a consumer's ledger, optionally deleting them on the server.</summary>
internal sealed record AcknowledgeMessagesCommand(string MailboxId, string Consumer, IReadOnlyList<string> Uids, bool Delete);

internal sealed record AcknowledgeMessagesResult(IReadOnlyList<string> Acknowledged, IReadOnlyList<string> Deleted, IReadOnlyList<string> Missing);

/// <summary>DeleteMessages: delete uids on the server, without a ledger.</summary>
internal sealed record DeleteConsumerCommand(string MailboxId, string Consumer);

internal sealed record DeleteMessagesCommand(string MailboxId, IReadOnlyList<string> Uids);

internal sealed record DeleteMessagesResult(IReadOnlyList<string> Deleted, IReadOnlyList<string> Missing);
