using System.Text.Json.Serialization;

namespace MailGrpc.Server.Mailboxes;

/// <summary>Whose POP3 server a mailbox is on, as stored (pinned JSON names; see <see cref="MailboxState"/>).</summary>
internal enum MailboxProvider
{
    [JsonStringEnumMemberName("Unspecified")] Unspecified = 0,
    [JsonStringEnumMemberName("Microsoft")] Microsoft = 1,
    [JsonStringEnumMemberName("Google")] Google = 2,
    [JsonStringEnumMemberName("Generic")] Generic = 3,
}
