using Google.Protobuf.WellKnownTypes;
using MailGrpc.Server.Mailboxes;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>
/// The API's mailbox messages ⇄ the registry's domain types. Enums are converted member by member, never by number, so
/// the .proto and the stored records can change apart; an API value this server does not know becomes null, which the
/// manager refuses with the field's reason. The resource has no secret to leave out: the record holds none.
/// </summary>
internal static class MailboxProtoMapper
{
    public static NewMailbox ToDomain(this V1.CreateMailboxRequest request) =>
        new(request.MailboxId, request.Mailbox?.ToDomain());

    public static MailboxChange ToDomain(this V1.UpdateMailboxRequest request) =>
        new(request.Mailbox?.ToDomain(), request.UpdateMask?.Paths.ToArray() ?? []);

    public static MailboxSpec ToDomain(this V1.Mailbox mailbox) => new()
    {
        MailboxId = mailbox.MailboxId,
        Username = mailbox.Username,
        DisplayName = mailbox.DisplayName,
        Provider = ToDomain(mailbox.Provider),
        Server = mailbox.Server is { } server ? new ServerSpec(server.Host, server.HasPort ? server.Port : null, ToDomain(server.Security)) : null,
        AuthMethod = mailbox.AuthMethod?.MethodCase switch
        {
            V1.AuthMethod.MethodOneofCase.Oauth => new OAuthAuthSpec(mailbox.AuthMethod.Oauth.Client, ToDomain(mailbox.AuthMethod.Oauth.Mechanism)),
            V1.AuthMethod.MethodOneofCase.Password => new PasswordAuthSpec(),
            _ => null,
        },
        State = ToDomain(mailbox.State),
        Sync = mailbox.Sync is { } sync
            ? new SyncSpec(
                sync.HasEnabled ? sync.Enabled : null,
                sync.Interval is { } i ? IntervalOf(i) : null,
                sync.Interval is not { } d || d.Nanos % 1_000_000 == 0)
            : null,
        Retention = mailbox.Retention is { } retention
            ? new RetentionSpec(ToDomain(retention.Mode), retention.RequiredConsumers.ToArray(), retention.DeleteAfter is { } after ? DeleteAfterOf(after) : null)
            : null,
        Etag = mailbox.Etag,
    };

    /// <summary>A delete_after as a TimeSpan; one out of range, negative or not whole seconds becomes <see cref="TimeSpan.MinValue"/>, which the manager refuses.</summary>
    private static TimeSpan DeleteAfterOf(Duration duration) =>
        duration.Seconds is >= 0 and <= 315_576_000_000 && duration.Nanos == 0 ? TimeSpan.FromSeconds(duration.Seconds) : TimeSpan.MinValue;

    public static RetentionMode? ToDomain(V1.RetentionMode mode) => mode switch
    {
        V1.RetentionMode.Unspecified or V1.RetentionMode.Keep => RetentionMode.Keep,
        V1.RetentionMode.DeleteWhenAcknowledged => RetentionMode.DeleteWhenAcknowledged,
        _ => null,
    };

    public static V1.RetentionPolicy ToProto(MailboxRetention retention)
    {
        var proto = new V1.RetentionPolicy
        {
            Mode = retention.Mode == RetentionMode.DeleteWhenAcknowledged ? V1.RetentionMode.DeleteWhenAcknowledged : V1.RetentionMode.Keep,
            DeleteAfter = Duration.FromTimeSpan(retention.DeleteAfter),
        };
        proto.RequiredConsumers.Add(retention.RequiredConsumers);
        return proto;
    }

    /// <summary>A Duration as a TimeSpan; one out of range (or with mixed signs) becomes <see cref="TimeSpan.MinValue"/>, which the manager refuses.</summary>
    private static TimeSpan IntervalOf(Duration duration) =>
        duration.Seconds is >= 0 and <= 315_576_000_000 && duration.Nanos is >= 0 and < 1_000_000_000
            ? TimeSpan.FromSeconds(duration.Seconds) + TimeSpan.FromTicks(duration.Nanos / 100)
            : TimeSpan.MinValue;

    public static V1.Mailbox ToProto(this MailboxRecord record) => new()
    {
        MailboxId = record.Id,
        Username = record.Username,
        DisplayName = record.DisplayName,
        Provider = ToProto(record.Provider),
        Server = new V1.ServerSettings { Host = record.Host, Port = record.Port, Security = ToProto(record.Security) },
        AuthMethod = record.AuthKind switch
        {
            MailboxAuthKind.OAuth => new V1.AuthMethod { Oauth = new V1.OAuthAuth { Client = record.OAuthClient ?? string.Empty, Mechanism = ToProto(record.Mechanism) } },
            MailboxAuthKind.Password => new V1.AuthMethod { Password = new V1.PasswordAuth() },
            _ => new V1.AuthMethod(),
        },
        State = ToProto(record.State),
        LastErrorReason = record.LastErrorReason ?? string.Empty,
        LastErrorMessage = record.LastErrorMessage ?? string.Empty,
        CreateTime = Timestamp.FromDateTimeOffset(record.CreatedAt),
        UpdateTime = Timestamp.FromDateTimeOffset(record.UpdatedAt),
        Etag = record.Etag,
        Sync = record.Sync is { } sync ? ToProto(sync) : null,
        Retention = record.Retention is { } retention ? ToProto(retention) : null,
    };

    public static V1.SyncSettings ToProto(MailboxSyncSettings sync)
    {
        var proto = new V1.SyncSettings { Interval = sync.Interval is { } i ? Duration.FromTimeSpan(i) : null };
        if (sync.Enabled is { } enabled)
        {
            proto.Enabled = enabled;
        }

        return proto;
    }

    public static MailboxProvider? ToDomain(V1.Provider provider) => provider switch
    {
        V1.Provider.Unspecified => MailboxProvider.Unspecified,
        V1.Provider.Microsoft => MailboxProvider.Microsoft,
        V1.Provider.Google => MailboxProvider.Google,
        V1.Provider.Generic => MailboxProvider.Generic,
        _ => null,
    };

    public static V1.Provider ToProto(MailboxProvider provider) => provider switch
    {
        MailboxProvider.Microsoft => V1.Provider.Microsoft,
        MailboxProvider.Google => V1.Provider.Google,
        MailboxProvider.Generic => V1.Provider.Generic,
        _ => V1.Provider.Unspecified,
    };

    public static Pop3Security? ToDomain(V1.Security security) => security switch
    {
        V1.Security.Unspecified => Pop3Security.Unspecified,
        V1.Security.ImplicitTls => Pop3Security.ImplicitTls,
        V1.Security.Starttls => Pop3Security.Starttls,
        V1.Security.None => Pop3Security.None,
        _ => null,
    };

    public static V1.Security ToProto(Pop3Security security) => security switch
    {
        Pop3Security.ImplicitTls => V1.Security.ImplicitTls,
        Pop3Security.Starttls => V1.Security.Starttls,
        Pop3Security.None => V1.Security.None,
        _ => V1.Security.Unspecified,
    };

    public static OAuthMechanism? ToDomain(V1.SaslMechanism mechanism) => mechanism switch
    {
        V1.SaslMechanism.Unspecified => OAuthMechanism.Unspecified,
        V1.SaslMechanism.Xoauth2 => OAuthMechanism.Xoauth2,
        V1.SaslMechanism.Oauthbearer => OAuthMechanism.Oauthbearer,
        _ => null,
    };

    public static V1.SaslMechanism ToProto(OAuthMechanism mechanism) => mechanism switch
    {
        OAuthMechanism.Xoauth2 => V1.SaslMechanism.Xoauth2,
        OAuthMechanism.Oauthbearer => V1.SaslMechanism.Oauthbearer,
        _ => V1.SaslMechanism.Unspecified,
    };

    public static MailboxState? ToDomain(V1.MailboxState state) => state switch
    {
        V1.MailboxState.Unspecified => MailboxState.Unspecified,
        V1.MailboxState.PendingAuthorization => MailboxState.PendingAuthorization,
        V1.MailboxState.Active => MailboxState.Active,
        V1.MailboxState.ReauthorizationRequired => MailboxState.ReauthorizationRequired,
        V1.MailboxState.Disabled => MailboxState.Disabled,
        _ => null,
    };

    public static V1.MailboxState ToProto(MailboxState state) => state switch
    {
        MailboxState.PendingAuthorization => V1.MailboxState.PendingAuthorization,
        MailboxState.Active => V1.MailboxState.Active,
        MailboxState.ReauthorizationRequired => V1.MailboxState.ReauthorizationRequired,
        MailboxState.Disabled => V1.MailboxState.Disabled,
        _ => V1.MailboxState.Unspecified,
    };
}
