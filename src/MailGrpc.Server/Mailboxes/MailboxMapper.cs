using Google.Protobuf.WellKnownTypes;
using MailGrpc.V1;

namespace MailGrpc.Server.Mailboxes;

/// <summary>Stored mailbox → API resource. The resource has no secret to leave out: the record holds none.</summary>
internal static class MailboxMapper
{
    public static Mailbox ToProto(this MailboxRecord record) => new()
    {
        MailboxId = record.Id,
        Username = record.Username,
        DisplayName = record.DisplayName,
        Provider = record.Provider,
        Server = new ServerSettings { Host = record.Host, Port = record.Port, Security = record.Security },
        AuthMethod = record.AuthKind switch
        {
            MailboxAuthKind.OAuth => new AuthMethod { Oauth = new OAuthAuth { Client = record.OAuthClient ?? string.Empty, Mechanism = record.Mechanism } },
            MailboxAuthKind.Password => new AuthMethod { Password = new PasswordAuth() },
            _ => new AuthMethod(),
        },
        State = record.State,
        LastErrorReason = record.LastErrorReason ?? string.Empty,
        LastErrorMessage = record.LastErrorMessage ?? string.Empty,
        CreateTime = Timestamp.FromDateTimeOffset(record.CreatedAt),
        UpdateTime = Timestamp.FromDateTimeOffset(record.UpdatedAt),
        Etag = record.Etag,
    };
}
