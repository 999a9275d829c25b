using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Authorization.Providers;

/// <summary>Tokens a provider issued. <see cref="RefreshToken"/> is null when the provider kept the old one (or holds it itself, as MSAL does).</summary>
internal sealed record TokenGrant(string AccessToken, string? RefreshToken, DateTimeOffset ExpiresAt, IReadOnlyList<string> Scopes)
{
    /// <summary>Microsoft: MSAL's home account id.</summary>
    public string? MsalAccountId { get; init; }

    /// <summary>Microsoft: MSAL's cache now holds a refresh token for the account.</summary>
    public bool MsalHasRefreshToken { get; init; }

    /// <summary>Microsoft: the ID token's claims MSAL received with the tokens (claim type → value).</summary>
    public IReadOnlyDictionary<string, string>? IdTokenClaims { get; init; }

    public override string ToString() => $"token grant (expires {ExpiresAt:O})";
}

/// <summary>An authorization URL and the PKCE verifier that goes with it.</summary>
internal sealed record AuthorizationUrl(string Url, string CodeVerifier)
{
    public override string ToString() => Url;
}

/// <summary>What a device-authorization flow shows a person, and what it polls with.</summary>
internal sealed record DeviceAuthorizationStart(string DeviceCode, string UserCode, string VerificationUri, string? VerificationUriComplete, DateTimeOffset ExpiresAt, TimeSpan Interval)
{
    public override string ToString() => $"device authorization (expires {ExpiresAt:O})";
}

/// <summary>
/// Who consented, as the provider says: the value of the client's identity claim (null when the provider's answer lacks
/// it) and where it came from. <see cref="Verified"/> is false when the provider marks the address unverified.
/// </summary>
internal sealed record ConsentedIdentity(string Claim, string? Value, bool Verified, string Source);

/// <summary>The issuer a callback's <c>iss</c> must name (RFC 9207), and whether the provider always sends it.</summary>
internal sealed record CallbackIssuer(string Issuer, bool Required);

/// <summary>One named OAuth client from configuration.</summary>
internal sealed record OAuthClient(string Name, OAuthClientOptions Options);

/// <summary>
/// One provider family (Microsoft through MSAL; Google and generic OAuth2/OIDC through Duende.IdentityModel). Failures are
/// thrown as <see cref="OAuthProviderException"/>; the caller decides what they do to the mailbox.
/// </summary>
internal interface IOAuthProvider
{
    Task<AuthorizationUrl> CreateAuthorizationUrlAsync(OAuthClient client, MailboxRecord mailbox, string redirectUri, string state, string? loginHint, CancellationToken cancellationToken);

    Task<TokenGrant> RedeemCodeAsync(OAuthClient client, MailboxRecord mailbox, string code, string codeVerifier, string redirectUri, CancellationToken cancellationToken);

    /// <summary>Renews the access token from the stored credential (refresh token, MSAL account, or client credentials for app-only).</summary>
    Task<TokenGrant> RefreshAsync(OAuthClient client, MailboxRecord mailbox, StoredCredential current, CancellationToken cancellationToken);

    Task<TokenGrant> RedeemRefreshTokenAsync(OAuthClient client, MailboxRecord mailbox, string refreshToken, CancellationToken cancellationToken);

    Task<TokenGrant> ClientCredentialsAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken);

    Task<DeviceAuthorizationStart> StartDeviceAuthorizationAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken);

    /// <summary>Polls once; null while the person has not decided yet (<c>authorization_pending</c>, <c>slow_down</c>).</summary>
    Task<TokenGrant?> PollDeviceAuthorizationAsync(OAuthClient client, MailboxRecord mailbox, DeviceAuthorizationStart device, CancellationToken cancellationToken);

    /// <summary>Revokes at the provider. False when the provider offers no revocation.</summary>
    Task<bool> RevokeAsync(OAuthClient client, MailboxRecord mailbox, StoredCredential current, CancellationToken cancellationToken);

    /// <summary>Forgets anything the provider library keeps for the mailbox (MSAL's cache).</summary>
    Task ForgetAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken);

    /// <summary>The issuer a callback's <c>iss</c> is checked against; null when the provider's issuer is not known exactly.</summary>
    Task<CallbackIssuer?> CallbackIssuerAsync(OAuthClient client, CancellationToken cancellationToken);

    /// <summary>
    /// Who consented to <paramref name="grant"/> (userinfo endpoint, or the ID token MSAL received); null when the provider
    /// offers no identity for it (no OpenID scope, no userinfo endpoint, app-only).
    /// </summary>
    Task<ConsentedIdentity?> IdentifyAsync(OAuthClient client, TokenGrant grant, CancellationToken cancellationToken);

    /// <summary>The identity claim compared with the mailbox's username.</summary>
    static string IdentityClaimOf(OAuthClient client) => !string.IsNullOrWhiteSpace(client.Options.IdentityClaim)
        ? client.Options.IdentityClaim
        : client.Options.Provider == OAuthProviderKind.Microsoft ? "preferred_username" : "email";
}

/// <summary>How a provider failure affects the mailbox.</summary>
internal enum OAuthFailureKind
{
    /// <summary>The grant is dead (<c>invalid_grant</c>, MSAL UI required): a person must authorize again.</summary>
    InvalidGrant = 1,

    /// <summary>Timeout, connection failure, 5xx, 429: retry later; the mailbox state does not change.</summary>
    Transient,

    /// <summary>The provider refused the client itself (<c>invalid_client</c>, <c>unauthorized_client</c>, bad scope): operator fix.</summary>
    ClientRejected,

    /// <summary>The person refused consent (<c>access_denied</c>).</summary>
    AccessDenied,

    /// <summary>The device code expired before the person approved.</summary>
    DeviceCodeExpired,

    /// <summary>The provider or client does not support the requested flow.</summary>
    NotSupported,

    /// <summary>The PKCE verifier did not match the challenge of the code.</summary>
    PkceFailed,

    /// <summary>Any other protocol error the provider returned.</summary>
    Other,

    /// <summary>No refresh token is held, so the access token cannot be renewed (no provider was asked).</summary>
    NoRefreshToken,
}

/// <summary>A provider failure with the provider's error code and description (which never hold a secret).</summary>
internal sealed class OAuthProviderException : Exception
{
    public OAuthProviderException(OAuthFailureKind kind, string error, string? description, Exception? inner = null)
        : base(string.IsNullOrEmpty(description) ? error : $"{error}: {description}", inner)
    {
        Kind = kind;
        Error = error;
        Description = description;
    }

    public OAuthProviderException()
    {
        Error = string.Empty;
    }

    public OAuthProviderException(string message)
        : base(message)
    {
        Error = string.Empty;
    }

    public OAuthProviderException(string message, Exception innerException)
        : base(message, innerException)
    {
        Error = string.Empty;
    }

    public OAuthFailureKind Kind { get; }

    /// <summary>The OAuth <c>error</c> code (or a MailGrpc code for transport failures).</summary>
    public string Error { get; }

    public string? Description { get; }

    /// <summary>Classifies a standard OAuth error code.</summary>
    public static OAuthFailureKind KindOf(string? error) => error switch
    {
        "invalid_grant" => OAuthFailureKind.InvalidGrant,
        "invalid_client" or "unauthorized_client" or "invalid_scope" or "unsupported_grant_type" => OAuthFailureKind.ClientRejected,
        "access_denied" => OAuthFailureKind.AccessDenied,
        "expired_token" => OAuthFailureKind.DeviceCodeExpired,
        "temporarily_unavailable" or "server_error" => OAuthFailureKind.Transient,
        _ => OAuthFailureKind.Other,
    };
}
