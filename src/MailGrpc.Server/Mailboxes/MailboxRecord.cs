using System.Text.Json.Serialization;

namespace MailGrpc.Server.Mailboxes;

/// <summary>
/// A mailbox as stored (JSON in Redis). Holds no secret: credentials live under their own encrypted key. Its enums are the
/// project's own with pinned JSON names, so the stored form does not follow the API's .proto.
/// </summary>
internal sealed record MailboxRecord
{
    public required string Tenant { get; init; }

    public required string Id { get; init; }

    public required string Username { get; init; }

    public string DisplayName { get; init; } = string.Empty;

    public MailboxProvider Provider { get; init; }

    public required string Host { get; init; }

    public int Port { get; init; }

    public Pop3Security Security { get; init; }

    public MailboxAuthKind AuthKind { get; init; }

    /// <summary>The configured OAuth client's name, for OAuth mailboxes.</summary>
    public string? OAuthClient { get; init; }

    public OAuthMechanism Mechanism { get; init; }

    public MailboxState State { get; init; }

    public string? LastErrorReason { get; init; }

    public string? LastErrorMessage { get; init; }

    /// <summary>The mailbox's own sync settings; null fields take the server's defaults (<c>MailGrpc:Sync</c>).</summary>
    public MailboxSyncSettings? Sync { get; init; }

    /// <summary>When the sync engine deletes acknowledged messages (docs/sync.md, "Retention"); null: keep everything.</summary>
    public MailboxRetention? Retention { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>
    /// Set when a delete began: the mailbox is gone for every RPC, and what is left of it (index entry, credential,
    /// ledgers, pending authorizations) is being removed. A retried delete, a create of the same id or the reconciler
    /// finishes the removal; the document itself goes last.
    /// </summary>
    public DateTimeOffset? DeletingSince { get; init; }

    /// <summary>
    /// Set on a tombstone: what a finished delete leaves on the mailbox's key for <see cref="MailboxRepository.TombstoneLifetime"/>
    /// (no username, host or anything else of the mailbox), so a retried delete whose first reply was lost answers as the
    /// first did instead of NOT_FOUND. Expires on its own; a create of the same id replaces it.
    /// </summary>
    public DateTimeOffset? DeletedAt { get; init; }

    /// <summary>On a tombstone: what the delete answered for <c>revoked_at_provider</c>.</summary>
    public bool? RevokedAtProvider { get; init; }

    /// <summary>The store's version of this document; not serialized, filled in on read.</summary>
    [JsonIgnore]
    public string Etag { get; init; } = string.Empty;
}

/// <summary>A mailbox's own sync settings as stored; a null field means "the server's default".</summary>
internal sealed record MailboxSyncSettings(bool? Enabled, TimeSpan? Interval)
{
    public static MailboxSyncSettings None { get; } = new(null, null);

    /// <summary>Null when nothing is set, so a record without settings stores none.</summary>
    public MailboxSyncSettings? OrNull() => Enabled is null && Interval is null ? null : this;
}

/// <summary>
/// A mailbox's retention policy as stored: in <see cref="RetentionMode.DeleteWhenAcknowledged"/>, a message every one of the
/// <see cref="RequiredConsumers"/> acknowledged is deleted by the sync engine <see cref="DeleteAfter"/> after the first poll
/// that saw it acknowledged by all of them.
/// </summary>
internal sealed record MailboxRetention(RetentionMode Mode, IReadOnlyList<string> RequiredConsumers, TimeSpan DeleteAfter)
{
    public static MailboxRetention Keep { get; } = new(RetentionMode.Keep, [], TimeSpan.Zero);

    /// <summary>Null for the default (keep, nothing else set), so a record without a policy stores none.</summary>
    public MailboxRetention? OrNull() => Mode == RetentionMode.Keep && RequiredConsumers.Count == 0 && DeleteAfter == TimeSpan.Zero ? null : this;
}

/// <summary>What retention does, as stored (pinned JSON names).</summary>
internal enum RetentionMode
{
    [JsonStringEnumMemberName("Keep")] Keep = 0,
    [JsonStringEnumMemberName("DeleteWhenAcknowledged")] DeleteWhenAcknowledged = 1,
}

/// <summary>How a mailbox logs in, as stored (pinned JSON names; see <see cref="MailboxState"/>).</summary>
internal enum MailboxAuthKind
{
    [JsonStringEnumMemberName("None")] None = 0,
    [JsonStringEnumMemberName("OAuth")] OAuth = 1,
    [JsonStringEnumMemberName("Password")] Password = 2,
}

[JsonSourceGenerationOptions(UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(MailboxRecord))]
internal sealed partial class MailboxJsonContext : JsonSerializerContext;
