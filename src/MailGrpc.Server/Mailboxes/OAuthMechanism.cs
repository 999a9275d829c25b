using System.Text.Json.Serialization;

namespace MailGrpc.Server.Mailboxes;

/// <summary>The SASL mechanism an OAuth mailbox logs in with, as stored (pinned JSON names; see <see cref="MailboxState"/>).</summary>
internal enum OAuthMechanism
{
    [JsonStringEnumMemberName("Unspecified")] Unspecified = 0,
    [JsonStringEnumMemberName("Xoauth2")] Xoauth2 = 1,
    [JsonStringEnumMemberName("Oauthbearer")] Oauthbearer = 2,
}
