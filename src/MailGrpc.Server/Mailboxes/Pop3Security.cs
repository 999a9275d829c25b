using System.Text.Json.Serialization;

namespace MailGrpc.Server.Mailboxes;

/// <summary>How the POP3 connection is protected, as stored (pinned JSON names; see <see cref="MailboxState"/>).</summary>
internal enum Pop3Security
{
    [JsonStringEnumMemberName("Unspecified")] Unspecified = 0,
    [JsonStringEnumMemberName("ImplicitTls")] ImplicitTls = 1,
    [JsonStringEnumMemberName("Starttls")] Starttls = 2,
    [JsonStringEnumMemberName("None")] None = 3,
}
