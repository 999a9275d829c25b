namespace MailGrpc.Server.Mailboxes;

/// <summary>
/// A mailbox as a caller describes it, for create and update, before any rule is applied (<see cref="MailboxManager"/>
/// validates every field). The edge fills it from the API message; an enum field the API sent with a value this server
/// does not know is null, so the manager refuses it with the field's reason.
/// </summary>
internal sealed record MailboxSpec
{
    /// <summary>The mailbox's id; named by updates, ignored by create (which takes <see cref="NewMailbox.MailboxId"/>).</summary>
    public string MailboxId { get; init; } = string.Empty;

    public string Username { get; init; } = string.Empty;

    public string DisplayName { get; init; } = string.Empty;

    /// <summary>Null: a value the server does not know.</summary>
    public MailboxProvider? Provider { get; init; } = MailboxProvider.Unspecified;

    public ServerSpec? Server { get; init; }

    /// <summary>Null: no method chosen.</summary>
    public AuthMethodSpec? AuthMethod { get; init; }

    /// <summary>Null: a value the server does not know.</summary>
    public MailboxState? State { get; init; } = MailboxState.Unspecified;

    /// <summary>The caller's sync settings (null: the message was left out). An interval is validated by the manager.</summary>
    public SyncSpec? Sync { get; init; }

    /// <summary>The caller's retention policy (null: the message was left out), validated by the manager.</summary>
    public RetentionSpec? Retention { get; init; }

    /// <summary>The version the caller last read; empty accepts any.</summary>
    public string Etag { get; init; } = string.Empty;
}

/// <summary>The POP3 server settings a caller gave; <see cref="Port"/> null when not set, <see cref="Security"/> null when unknown.</summary>
internal sealed record ServerSpec(string Host, int? Port, Pop3Security? Security);

/// <summary>Sync settings as a caller sent them: null fields were left out; <see cref="Interval"/> is unchecked.</summary>
internal sealed record SyncSpec(bool? Enabled, TimeSpan? Interval, bool IntervalWholeMilliseconds = true);

/// <summary>How a mailbox logs in, as a caller chose it.</summary>
internal abstract record AuthMethodSpec;

/// <summary>OAuth with a client configured on the server; <see cref="Mechanism"/> null when unknown.</summary>
internal sealed record OAuthAuthSpec(string Client, OAuthMechanism? Mechanism) : AuthMethodSpec;

/// <summary>A password (or app password) stored later with SetPassword.</summary>
internal sealed record PasswordAuthSpec : AuthMethodSpec;

/// <summary>A create: the id to give the mailbox (empty: the server picks one) and its description (null: missing).</summary>
internal sealed record NewMailbox(string MailboxId, MailboxSpec? Mailbox);

/// <summary>An update: the new values (null: missing) and the field paths to take from them.</summary>
internal sealed record MailboxChange(MailboxSpec? Mailbox, IReadOnlyList<string> Paths);

/// <summary>A page of mailboxes, and the token of the next page (empty on the last).</summary>
internal sealed record MailboxPage(IReadOnlyList<MailboxRecord> Mailboxes, string NextPageToken);

/// <summary>
/// A retention policy as a caller sent it: <see cref="Mode"/> null is a value this server does not know; <see cref="DeleteAfter"/>
/// null was left out (0), <see cref="TimeSpan.MinValue"/> is out of range or not whole seconds. Unchecked.
/// </summary>
internal sealed record RetentionSpec(RetentionMode? Mode, IReadOnlyList<string> RequiredConsumers, TimeSpan? DeleteAfter);
