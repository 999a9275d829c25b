using System.Globalization;

namespace MailGrpc.Server.Errors;

/// <summary>The retention policy's failures (docs/errors.md, "Mailboxes"; docs/sync.md, "Retention").</summary>
internal static partial class Failures
{
    public static MailGrpcException InvalidRetentionMode() => Invalid(
        ErrorReasons.InvalidRetentionMode,
        "mailbox.retention.mode",
        "retention.mode must be RETENTION_MODE_KEEP or RETENTION_MODE_DELETE_WHEN_ACKNOWLEDGED.");

    public static MailGrpcException InvalidRetentionConsumers(string problem) => Invalid(
        ErrorReasons.InvalidRetentionConsumers,
        "mailbox.retention.required_consumers",
        "retention.required_consumers " + problem);

    public static MailGrpcException InvalidRetentionDeleteAfter(TimeSpan max) => Invalid(
        ErrorReasons.InvalidRetentionDeleteAfter,
        "mailbox.retention.delete_after",
        string.Create(CultureInfo.InvariantCulture, $"retention.delete_after must be whole seconds from 0 to {max.TotalDays:0} days."));
}
