using MailGrpc.Server.Authorization.Broker;
using MailGrpc.Server.Authorization.Providers;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Errors;

/// <summary>
/// The errors of the authorization area (flows, token broker, providers), one factory per occasion, each naming its
/// reason, message and metadata in one place. Messages never hold a token, code, password or client secret.
/// </summary>
internal static partial class Failures
{
    /// <summary>What is wrong with an authorization callback (all INVALID_CALLBACK).</summary>
    public enum CallbackProblem
    {
        /// <summary>callback_url disagrees with the state, code or iss given beside it.</summary>
        UrlDisagrees,

        /// <summary>callback_url is not an absolute http(s) URL.</summary>
        UrlInvalid,

        /// <summary>No state in the callback.</summary>
        StateMissing,

        /// <summary>The provider answered with an error but without the state.</summary>
        StateMissingOnProviderError,

        /// <summary>The state is not one of MailGrpc's.</summary>
        StateMalformed,

        /// <summary>No (valid) code in the callback.</summary>
        CodeInvalid,
    }

    public static MailGrpcException InvalidCallback(CallbackProblem problem)
    {
        var (field, message) = problem switch
        {
            CallbackProblem.UrlDisagrees => ("callback_url", "callback_url disagrees with the state, code or iss given beside it."),
            CallbackProblem.UrlInvalid => ("callback_url", "callback_url must be the absolute http(s) URL the provider redirected to."),
            CallbackProblem.StateMissing => ("state", "The callback has no `state`: it must be the URL the provider redirected to, unchanged."),
            CallbackProblem.StateMissingOnProviderError => ("state", "The provider answered with an error but without the `state` MailGrpc sent, so it cannot be matched to an authorization."),
            CallbackProblem.StateMalformed => ("state", "The callback's `state` is malformed (MailGrpc's states are 43 URL-safe characters); the link was cut or altered."),
            _ => ("code", "The callback has no valid `code`: it must be the URL the provider redirected to, unchanged."),
        };
        return AuthorizationFieldError(ErrorReasons.InvalidCallback, field, message);
    }

    public static MailGrpcException LoginHintInvalid(int maxLength) =>
        AuthorizationFieldError(ErrorReasons.InvalidArgument, "login_hint", $"login_hint must be at most {maxLength} characters without control characters.");

    public static MailGrpcException InvalidRefreshToken(int maxLength) =>
        AuthorizationFieldError(ErrorReasons.InvalidRefreshToken, "refresh_token", $"refresh_token is required: 1-{maxLength} characters without white space.");

    public static MailGrpcException InvalidPassword(int maxLength) =>
        AuthorizationFieldError(ErrorReasons.InvalidPassword, "password", $"password is required: 1-{maxLength} characters without control characters.");

    public static MailGrpcException RedirectUriNotAllowed(string oauthClient) =>
        AuthorizationFieldError(ErrorReasons.RedirectUriNotAllowed, "redirect_uri", $"redirect_uri is not one of the OAuth client '{oauthClient}''s configured RedirectUris.");

    public static MailGrpcException NoRedirectUri(string oauthClient) =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.NoRedirectUri, $"The OAuth client '{oauthClient}' has no RedirectUris configured.");

    public static MailGrpcException StateNotFound() =>
        new(ErrorKind.NotFound, ErrorReasons.StateNotFound, "No authorization was started with this state.");

    public static MailGrpcException StateTenantMismatch() =>
        new(ErrorKind.PermissionDenied, ErrorReasons.StateTenantMismatch, "This state belongs to another tenant.");

    public static MailGrpcException StateExpired() =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.StateExpired, "This authorization expired; start a new one.");

    /// <summary>A state redeemed before: <paramref name="completed"/> when that redemption stored a credential (then nothing is left to do).</summary>
    public static MailGrpcException StateAlreadyUsed(string mailboxId, bool completed, string? account) => completed
        ? new(
            ErrorKind.FailedPrecondition,
            ErrorReasons.StateAlreadyUsed,
            $"This authorization was already completed{(string.IsNullOrEmpty(account) ? string.Empty : $" by account {account}")}; mailbox '{mailboxId}' is authorized. Nothing more to do.",
            new Dictionary<string, string> { ["mailbox_id"] = mailboxId, ["completed"] = "true", ["account"] = account ?? string.Empty })
        : new(
            ErrorKind.FailedPrecondition,
            ErrorReasons.StateAlreadyUsed,
            $"This authorization link was already used and did not complete; the application that sent it must start a new authorization for mailbox '{mailboxId}'.",
            new Dictionary<string, string> { ["mailbox_id"] = mailboxId, ["completed"] = "false" });

    /// <summary>The mailbox does not use OAuth, or (<paramref name="clientChangedSinceStart"/>) its OAuth client changed since a flow started.</summary>
    public static MailGrpcException NotOAuthMailbox(string mailboxId, bool clientChangedSinceStart = false) =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.NotOAuthMailbox, clientChangedSinceStart
            ? "The mailbox's OAuth client changed since the authorization started; start a new one."
            : $"Mailbox '{mailboxId}' does not use OAuth.");

    public static MailGrpcException UnknownOAuthClient(string mailboxId, string? oauthClient) =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.UnknownOAuthClient, $"The OAuth client '{oauthClient}' of mailbox '{mailboxId}' is no longer configured on the server.");

    public static MailGrpcException NotPasswordMailbox(string mailboxId) =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.NotPasswordMailbox, $"Mailbox '{mailboxId}' does not use password auth.");

    /// <summary>The callback's <c>iss</c> names another issuer (RFC 9207). The received value is not echoed: it is attacker-controlled.</summary>
    public static MailGrpcException IssuerMismatch(string oauthClient, string? expectedIssuer) => new(
        ErrorKind.PermissionDenied,
        ErrorReasons.IssuerMismatch,
        $"The authorization response names another issuer than OAuth client '{oauthClient}''s provider{(expectedIssuer is null ? string.Empty : $" ({expectedIssuer})")}: it may come from another provider (mix-up, RFC 9207). Nothing was stored; start a new authorization.",
        new Dictionary<string, string> { ["oauth_client"] = oauthClient, ["expected_issuer"] = expectedIssuer ?? string.Empty });

    public static MailGrpcException IssuerMissing(string oauthClient, string expectedIssuer) => new(
        ErrorKind.PermissionDenied,
        ErrorReasons.IssuerMissing,
        $"The authorization response has no `iss`, but the provider ({expectedIssuer}) always sends one (RFC 9207): pass the whole callback URL, or `iss` beside state and code. Nothing was stored; start a new authorization.",
        new Dictionary<string, string> { ["oauth_client"] = oauthClient, ["expected_issuer"] = expectedIssuer });

    /// <summary>SetMailboxPassword's trial login was refused (POP3_CREDENTIAL_REFUSED); nothing was stored.</summary>
    public static MailGrpcException PasswordRefusedAtTrialLogin(MailboxRecord mailbox) => new(
        ErrorKind.FailedPrecondition,
        ErrorReasons.Pop3CredentialRefused,
        $"The POP3 server {mailbox.Host}:{mailbox.Port} refused this password for {mailbox.Username}; nothing was stored. Check the app password (and that POP3 is enabled for the account), or set skip_verification.",
        new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["username"] = mailbox.Username });

    /// <summary>A grant without identity whose token the POP3 server refused at the trial login (POP3_CREDENTIAL_REFUSED); nothing was stored.</summary>
    public static MailGrpcException GrantRefusedAtTrialLogin(string mailboxId, string username) => new(
        ErrorKind.FailedPrecondition,
        ErrorReasons.Pop3CredentialRefused,
        $"The provider names no account for this grant, and the POP3 server refused its token for {username}: the person probably consented with another account. Nothing was stored; authorize again signed in as {username}.",
        new Dictionary<string, string> { ["mailbox_id"] = mailboxId, ["expected_account"] = username });

    /// <summary>The provider's identity lacks the claim, or marks the address unverified.</summary>
    public static MailGrpcException IdentityUnavailable(string mailboxId, string username, string oauthClient, ConsentedIdentity identity) => new(
        ErrorKind.FailedPrecondition,
        ErrorReasons.IdentityUnavailable,
        string.IsNullOrEmpty(identity.Value)
            ? $"The provider's {identity.Source} has no '{identity.Claim}' claim, so the consenting account cannot be compared with {username}. Nothing was stored; request the scope that releases it (e.g. `email`) or set MailGrpc:OAuthClients:{oauthClient}:IdentityClaim."
            : $"The provider marks the address '{identity.Value}' as unverified, so it does not prove the account. Nothing was stored; verify the address at the provider.",
        new Dictionary<string, string> { ["mailbox_id"] = mailboxId, ["claim"] = identity.Claim, ["expected_account"] = username });

    /// <summary>Another account consented than the mailbox's; <paramref name="consented"/> is already cut to size.</summary>
    public static MailGrpcException IdentityMismatch(string mailboxId, string username, string consented, string claim) => new(
        ErrorKind.PermissionDenied,
        ErrorReasons.IdentityMismatch,
        $"The authorization was given by account {consented}, but mailbox '{mailboxId}' is for {username}. Nothing was stored; the person must sign in at the provider as {username} and authorize again.",
        new Dictionary<string, string> { ["mailbox_id"] = mailboxId, ["consented_account"] = consented, ["expected_account"] = username, ["claim"] = claim });

    public static MailGrpcException RefreshTokenNotIssued(OAuthClient client, DateTimeOffset accessExpiresAt, IReadOnlyList<string> grantedScopes)
    {
        var fix = client.Options.Provider switch
        {
            OAuthProviderKind.Google => "At Google the refresh token comes with access_type=offline and prompt=consent (MailGrpc sends both unless PromptConsent is false); remove the app's earlier grant at https://myaccount.google.com/permissions and authorize again.",
            OAuthProviderKind.Microsoft => "At Entra ID, the app registration needs the delegated permission offline_access.",
            _ => client.Options.PromptConsent == false
                ? $"PromptConsent is off for OAuth client '{client.Name}', and OpenID providers issue a refresh token only with prompt=consent; turn it on, or allow the client the refresh_token grant and the offline_access scope at the provider."
                : $"At the provider, allow client '{client.Options.ClientId}' the refresh_token grant type and the offline_access scope (MailGrpc requested offline_access with prompt=consent).",
        };
        return new MailGrpcException(
            ErrorKind.FailedPrecondition,
            ErrorReasons.RefreshTokenNotIssued,
            $"The provider issued no refresh token, so this mailbox would stop working when the access token expires ({accessExpiresAt:u}). Nothing was stored. {fix} Or set MailGrpc:OAuthClients:{client.Name}:AllowAccessTokenOnly=true to accept access until then.",
            new Dictionary<string, string> { ["oauth_client"] = client.Name, ["granted_scopes"] = string.Join(' ', grantedScopes) });
    }

    // --- Token broker ---

    public static MailGrpcException MailboxDisabled(string mailboxId) =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.MailboxDisabled, $"Mailbox '{mailboxId}' is disabled.");

    /// <summary>No matching credential is stored: a password mailbox without a password, or an OAuth mailbox never (or no longer) authorized.</summary>
    public static MailGrpcException NotAuthorized(string mailboxId, bool passwordMailbox) =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.NotAuthorized, passwordMailbox
            ? $"Mailbox '{mailboxId}' has no password; set one with SetMailboxPassword."
            : $"Mailbox '{mailboxId}' is not authorized; run an authorization flow first.");

    public static MailGrpcException RefreshLockTimeout(string mailboxId, TimeSpan waited) =>
        new(ErrorKind.Unavailable, ErrorReasons.RefreshLockTimeout, $"The token of mailbox '{mailboxId}' could not be refreshed within {waited.TotalSeconds:0} s; retry later.");

    /// <summary>
    /// REAUTHORIZATION_REQUIRED, the one way it is built: the metadata names the mailbox and the <c>cause</c> reason (and the
    /// provider's error code when a provider refused); the message is worded for the occasion.
    /// </summary>
    public static MailGrpcException ReauthorizationRequired(string mailboxId, ReauthorizationCause cause)
    {
        var metadata = new Dictionary<string, string> { ["mailbox_id"] = mailboxId, ["cause"] = cause.Reason };
        if (cause.ProviderError is { } providerError)
        {
            metadata["provider_error"] = providerError;
        }

        var message = cause.Occasion switch
        {
            ReauthorizationOccasion.GrantRefused => $"The provider refused the stored grant of mailbox '{mailboxId}' ({cause.Message}); authorize it again.",
            ReauthorizationOccasion.NoRefreshToken => $"Mailbox '{mailboxId}': {cause.Message}",
            ReauthorizationOccasion.LoginRefused => $"Mailbox '{mailboxId}' needs a new authorization: {cause.Message}",
            _ => $"Mailbox '{mailboxId}' needs a new authorization ({cause.Reason}).",
        };
        return new MailGrpcException(ErrorKind.FailedPrecondition, ErrorReasons.ReauthorizationRequired, message, metadata);
    }

    // --- Stored secrets ---

    public static MailGrpcException CredentialUnreadable(string detail) =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.CredentialUnreadable, $"The stored credential cannot be decrypted ({detail}); restore the encryption key or authorize the mailbox again.");

    // --- Provider failures (OAuthErrorMapping picks one); detail is the provider's error and description, cut to size ---

    public static MailGrpcException GrantRefused(string detail, string providerError) =>
        OAuthProviderFailure(ErrorKind.FailedPrecondition, ErrorReasons.InvalidGrant, $"The provider refused the grant ({detail}).", providerError);

    public static MailGrpcException ProviderUnavailable(string detail, string providerError) =>
        OAuthProviderFailure(ErrorKind.Unavailable, ErrorReasons.ProviderUnavailable, $"The OAuth provider is unavailable ({detail}); retry later.", providerError);

    public static MailGrpcException ProviderMisconfigured(string detail, string providerError) =>
        OAuthProviderFailure(ErrorKind.FailedPrecondition, ErrorReasons.ProviderMisconfigured, $"The provider refused the OAuth client ({detail}); check its configuration.", providerError);

    public static MailGrpcException AccessDenied(string detail, string providerError) =>
        OAuthProviderFailure(ErrorKind.FailedPrecondition, ErrorReasons.AccessDenied, $"The person declined the authorization ({detail}).", providerError);

    public static MailGrpcException DeviceCodeExpired(string detail, string providerError) =>
        OAuthProviderFailure(ErrorKind.FailedPrecondition, ErrorReasons.DeviceCodeExpired, $"The device code expired before it was approved ({detail}).", providerError);

    public static MailGrpcException PkceVerificationFailed(string detail, string providerError) =>
        OAuthProviderFailure(ErrorKind.FailedPrecondition, ErrorReasons.PkceVerificationFailed, $"The provider refused the PKCE verifier ({detail}).", providerError);

    /// <summary>NO_REFRESH_TOKEN outside the broker (no provider was asked, so no provider error).</summary>
    public static MailGrpcException NoRefreshToken(string? description) =>
        new(ErrorKind.FailedPrecondition, ErrorReasons.NoRefreshToken, $"{description} Authorize the mailbox again (with offline access granted).");

    /// <summary>A flow the provider or client does not offer; <paramref name="reason"/> is the provider layer's (e.g. DEVICE_FLOW_NOT_SUPPORTED).</summary>
    public static MailGrpcException FlowNotSupported(string reason, string detail) =>
        OAuthProviderFailure(ErrorKind.FailedPrecondition, reason, $"Not supported by this provider or client ({detail}).", reason);

    public static MailGrpcException ProviderError(string detail, string providerError) =>
        OAuthProviderFailure(ErrorKind.FailedPrecondition, ErrorReasons.ProviderError, $"The OAuth provider returned an error ({detail}).", providerError);

    /// <summary>Entra throttled (429/503): <paramref name="reason"/> from EntraError's table, with Entra's ids and its Retry-After.</summary>
    public static MailGrpcException EntraThrottled(string reason, int httpStatus, TimeSpan? retryAfter, string described, IReadOnlyDictionary<string, string> metadata)
    {
        var wait = retryAfter is { } delay ? $" and asked to wait {Math.Ceiling(delay.TotalSeconds)} s" : string.Empty;
        return new MailGrpcException(ErrorKind.Unavailable, reason, $"Entra throttled the request (HTTP {httpStatus}{wait}): {described} Retry later.", metadata) { RetryDelay = retryAfter };
    }

    /// <summary>An Entra error with a known fix: <paramref name="reason"/> and <paramref name="fix"/> from EntraError's table; never retryable.</summary>
    public static MailGrpcException EntraRefused(string reason, string described, string fix, IReadOnlyDictionary<string, string> metadata) =>
        new(ErrorKind.FailedPrecondition, reason, $"Entra refused: {described} Fix: {fix}.", metadata);

    /// <summary>A provider failure mapped generically, with the ids Entra sent added to its metadata (and its Retry-After).</summary>
    public static MailGrpcException WithProviderIds(MailGrpcException generic, IReadOnlyDictionary<string, string> ids, TimeSpan? retryAfter)
    {
        var metadata = new Dictionary<string, string>(ids);
        foreach (var (key, value) in generic.Metadata)
        {
            metadata.TryAdd(key, value);
        }

        return new MailGrpcException(generic.Kind, generic.Reason, generic.Message, metadata) { RetryDelay = retryAfter };
    }

    private static MailGrpcException OAuthProviderFailure(ErrorKind kind, string reason, string message, string providerError) =>
        new(kind, reason, message, new Dictionary<string, string> { ["provider_error"] = providerError });

    private static MailGrpcException AuthorizationFieldError(string reason, string field, string message) =>
        new(ErrorKind.InvalidArgument, reason, message, new Dictionary<string, string> { ["field"] = field });
}
