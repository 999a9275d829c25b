using System.Globalization;

namespace MailGrpc.Server.Errors;

/// <summary>The sync settings' failures (docs/errors.md, "Mailboxes"; docs/sync.md).</summary>
internal static partial class Failures
{
    public static MailGrpcException InvalidSyncInterval(TimeSpan min, TimeSpan max) => Invalid(
        ErrorReasons.InvalidSyncInterval,
        "mailbox.sync.interval",
        string.Create(CultureInfo.InvariantCulture, $"sync.interval must be whole milliseconds from {min.TotalSeconds:0.###} s to {max.TotalHours:0} h (MailGrpc:Sync:MinInterval)."));
}
