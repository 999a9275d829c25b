namespace MailGrpc.Server.Errors;

/// <summary>The failures of MessageService calls (validation, missing messages, deletions the server did not commit).</summary>
internal static partial class Failures
{
    public static MailGrpcException InvalidConsumer(string field) =>
        Field(ErrorReasons.InvalidConsumer, field, "consumer must be 1 to 100 characters of A-Z a-z 0-9 . _ -.");

    public static MailGrpcException ConsumerRequired() =>
        Field(ErrorReasons.InvalidConsumer, "consumer", "only_unacknowledged needs a consumer.");

    public static MailGrpcException InvalidLimit(string field) =>
        Field(ErrorReasons.InvalidLimit, field, "max_messages and max_bytes must not be negative.");

    public static MailGrpcException InvalidUid(string field) =>
        Field(ErrorReasons.InvalidUid, field, "A uid is 1 to 70 printable ASCII characters without spaces (POP3 UIDL).");

    public static MailGrpcException InvalidUids(int max) =>
        Field(ErrorReasons.InvalidUids, "uids", $"uids must hold 1 to {max} entries.");

    public static MailGrpcException InvalidView() =>
        Field(ErrorReasons.InvalidView, "view", "view must be MESSAGE_VIEW_FULL or MESSAGE_VIEW_HEADERS.");

    /// <param name="why">Why it cannot be read, in words; <paramref name="state"/> is the proto name callers see.</param>
    public static MailGrpcException MailboxNotActive(string mailboxId, string why, string state) =>
        new(
            ErrorKind.FailedPrecondition,
            ErrorReasons.MailboxNotActive,
            $"Mailbox '{mailboxId}' cannot be read: {why}.",
            new Dictionary<string, string> { ["mailbox_id"] = mailboxId, ["state"] = state });

    public static MailGrpcException MessageNotFound(string mailboxId, string uid) =>
        new(ErrorKind.NotFound, ErrorReasons.MessageNotFound, $"Message '{uid}' is not in mailbox '{mailboxId}'.", new Dictionary<string, string> { ["uid"] = uid });

    public static MailGrpcException Pop3DeleteNotCommitted(int pending) =>
        new(ErrorKind.Unavailable, ErrorReasons.Pop3DeleteNotCommitted, $"The POP3 server did not commit the deletion of {pending} message(s); retrying the call is safe.");

    public static MailGrpcException ConsumerLimitReached(string mailboxId, int limit) =>
        new(
            ErrorKind.ResourceExhausted,
            ErrorReasons.ConsumerLimitReached,
            $"Mailbox '{mailboxId}' already has {limit} consumers (MailGrpc:Pop3:MaxConsumersPerMailbox); forget one with DeleteConsumer, or reuse a consumer name. Nothing was recorded.",
            new Dictionary<string, string> { ["mailbox_id"] = mailboxId, ["limit"] = limit.ToString(System.Globalization.CultureInfo.InvariantCulture) });

    private static MailGrpcException Field(string reason, string field, string message) =>
        new(ErrorKind.InvalidArgument, reason, message, new Dictionary<string, string> { ["field"] = field });
}
