using System.Text.Json.Serialization;

namespace MailGrpc.Server.Authorization.Secrets;

/// <summary>
/// A mailbox's credential as kept (encrypted as a whole) under <c>StoreKeys.Credential</c>. For Microsoft mailboxes the
/// refresh token lives in the MSAL cache blob instead and <see cref="MsalAccountId"/> finds the account in it.
/// </summary>
internal sealed record StoredCredential
{
    public required CredentialKind Kind { get; init; }

    /// <summary>The OAuth client that issued the tokens; a mailbox switched to another client must authorize again.</summary>
    public string? OAuthClient { get; init; }

    public string? AccessToken { get; init; }

    public string? RefreshToken { get; init; }

    public DateTimeOffset? AccessTokenExpiresAt { get; init; }

    public IReadOnlyList<string> Scopes { get; init; } = [];

    public DateTimeOffset? LastRefreshAt { get; init; }

    public string? Password { get; init; }

    /// <summary>Microsoft: MSAL's home account id of the signed-in user.</summary>
    public string? MsalAccountId { get; init; }

    /// <summary>Microsoft: the MSAL cache holds a refresh token for the account.</summary>
    public bool MsalHasRefreshToken { get; init; }

    public DateTimeOffset StoredAt { get; init; }

    /// <summary>The account that consented (identity claim) or whose password a POP3 login accepted.</summary>
    public string? Account { get; init; }

    [JsonIgnore]
    public bool HasRefreshToken => !string.IsNullOrEmpty(RefreshToken) || MsalHasRefreshToken;

    // Records print every property; this one holds secrets.
    public override string ToString() => $"{Kind} credential (expires {AccessTokenExpiresAt:O})";
}

[JsonSourceGenerationOptions(UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StoredCredential))]
[JsonSerializable(typeof(PendingAuthorization))]
internal sealed partial class SecretsJsonContext : JsonSerializerContext;

/// <summary>A started authorization-code flow, kept encrypted under <c>StoreKeys.PendingAuthorization(state)</c>.</summary>
internal sealed record PendingAuthorization
{
    public required string Tenant { get; init; }

    public required string MailboxId { get; init; }

    public required string OAuthClient { get; init; }

    public required string RedirectUri { get; init; }

    public required string CodeVerifier { get; init; }

    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>Set once the state was redeemed: the record stays as a tombstone so a replay is told apart from an unknown state.</summary>
    public DateTimeOffset? UsedAt { get; init; }

    /// <summary>Set once the redemption stored a credential: a reload of the callback then says "already done".</summary>
    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>The account that consented, for the "already done" page.</summary>
    public string? Account { get; init; }

    public override string ToString() => $"pending authorization of {Tenant}/{MailboxId}";
}
