using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Diagnostics;

/// <summary>A finding: a stable reason code and what to do about it.</summary>
internal sealed record DiagnosticFinding(string Reason, string Hint, DiagnosticOutcome Outcome = DiagnosticOutcome.Failed);

/// <summary>What the classifier knows about the mailbox besides the error text.</summary>
/// <remarks><c>AppOnly</c> comes from the stored credential kind (<c>CREDENTIAL_KIND_APP_ONLY</c>), never from the token.</remarks>
internal sealed record HintContext(MailboxProvider Provider, bool AppOnly = false, string Host = "");

/// <summary>
/// Turns what a provider or POP3 server said into a stable reason and a concrete fix. The patterns are the providers'
/// real error texts (Entra AADSTS codes, Google OAuth errors, Exchange Online and Gmail POP3 replies, Dovecot's
/// <c>[IN-USE]</c>); docs/troubleshooting.md is written from the same table.
/// </summary>
internal static class DiagnosticHints
{
    public const string HostNotFound = "HOST_NOT_FOUND";
    public const string HostNotAllowed = "HOST_NOT_ALLOWED";
    public const string ConnectionRefused = "CONNECTION_REFUSED";
    public const string ConnectTimeout = "CONNECT_TIMEOUT";
    public const string NetworkUnreachable = "NETWORK_UNREACHABLE";
    public const string TlsNameMismatch = "TLS_NAME_MISMATCH";
    public const string TlsUntrusted = "TLS_UNTRUSTED_CERTIFICATE";
    public const string TlsHandshakeFailed = "TLS_HANDSHAKE_FAILED";
    public const string TlsNotUsed = "TLS_NOT_USED";
    public const string StartTlsNotOffered = "STARTTLS_NOT_OFFERED";
    public const string NotPop3 = "NOT_A_POP3_SERVER";
    public const string Xoauth2NotOffered = "XOAUTH2_NOT_OFFERED";
    public const string OAuthBearerNotOffered = "OAUTHBEARER_NOT_OFFERED";
    public const string PasswordLoginNotOffered = "PASSWORD_LOGIN_NOT_OFFERED";
    public const string NotAuthorized = "NOT_AUTHORIZED";
    public const string OfflineAccessMissing = "OFFLINE_ACCESS_MISSING";
    public const string ConsentMissing = "CONSENT_MISSING";
    public const string InvalidGrant = "INVALID_GRANT";
    public const string GoogleTestingExpiry = "GOOGLE_TESTING_MODE_EXPIRY";
    public const string ClientSecretInvalid = "CLIENT_SECRET_INVALID";
    public const string MfaOrConditionalAccess = "CONDITIONAL_ACCESS";
    public const string ScopeMissing = "SCOPE_MISSING";
    public const string TokenExpired = "TOKEN_EXPIRED";
    public const string TokenExpiresSoon = "TOKEN_EXPIRES_SOON";
    public const string ProviderUnavailable = "PROVIDER_UNAVAILABLE";
    public const string CredentialsUnavailable = "CREDENTIALS_UNAVAILABLE";
    public const string PopDisabled = "POP_DISABLED";
    public const string ExchangeAppPermissionMissing = "EXCHANGE_APP_PERMISSION_MISSING";
    public const string TokenRefused = "TOKEN_REFUSED";
    public const string PasswordRefused = "PASSWORD_REFUSED";
    public const string MailboxInUse = "MAILBOX_IN_USE";
    public const string StatFailed = "STAT_FAILED";

    /// <summary>Classifies an error from the token layer or the provider's token endpoint (TOKEN step).</summary>
    public static DiagnosticFinding ClassifyTokenError(string text, HintContext context)
    {
        if (Has(text, "AADSTS65001") || Has(text, "consent_required") || Has(text, "has not consented"))
        {
            return new(ConsentMissing, context.AppOnly
                ? "An administrator must grant admin consent for POP.AccessAsApp (Office 365 Exchange Online) on the app registration's API permissions page."
                : "The user (or an administrator for the whole tenant) has not consented to the app's POP permission. Run BeginAuthorization again and accept the consent screen, or grant admin consent for POP.AccessAsUser.All in Entra.");
        }

        if (Has(text, "offline_access") || Has(text, "no refresh token") || Has(text, "refresh_token is missing"))
        {
            return new(OfflineAccessMissing, context.Provider == MailboxProvider.Google
                ? "Google returned no refresh token: the authorization URL must carry access_type=offline and prompt=consent. Authorize the mailbox again."
                : "The provider returned no refresh token: add the offline_access scope to the OAuth client (MailGrpc:OAuthClients:<name>:Scopes) and to the app registration's delegated permissions, then authorize the mailbox again.");
        }

        if (Has(text, "AADSTS7000215") || Has(text, "AADSTS7000222") || Has(text, "invalid_client"))
        {
            return new(ClientSecretInvalid, "The OAuth client's secret is wrong or expired. Create a new client secret in the app registration and update MailGrpc:OAuthClients:<name>:ClientSecret.");
        }

        if (Has(text, "AADSTS50076") || Has(text, "AADSTS50079") || Has(text, "AADSTS53003") || Has(text, "AADSTS70043") || Has(text, "interaction_required"))
        {
            return new(MfaOrConditionalAccess, "A Conditional Access policy (MFA, sign-in frequency or device rule) now requires the user to sign in interactively. Authorize the mailbox again; if it recurs every few hours, exclude the app from the sign-in-frequency policy.");
        }

        if (context.Provider == MailboxProvider.Google && Has(text, "invalid_grant") && (Has(text, "expired or revoked") || Has(text, "Token has been expired")))
        {
            return new(GoogleTestingExpiry, "Google refused the refresh token. If the OAuth consent screen's publishing status is \"Testing\", Google expires refresh tokens after 7 days: publish the app (\"In production\") and authorize the mailbox again. Otherwise the user revoked access or changed the password.");
        }

        if (Has(text, "invalid_grant") || Has(text, "AADSTS700082") || Has(text, "AADSTS70008") || Has(text, "AADSTS50173") || Has(text, "AADSTS54005") || Has(text, "REAUTHORIZATION_REQUIRED"))
        {
            return new(InvalidGrant, "The provider no longer accepts the refresh token (expired after inactivity, revoked, password changed, or already used). Authorize the mailbox again with BeginAuthorization or StartDeviceAuthorization.");
        }

        if (Has(text, "NOT_AUTHORIZED") || Has(text, "not authorized") || Has(text, "no credential"))
        {
            return new(NotAuthorized, "The mailbox has no credential yet: complete BeginAuthorization/CompleteAuthorization, StartDeviceAuthorization, AuthorizeWithClientCredentials or SetMailboxPassword.");
        }

        if (Has(text, "temporarily_unavailable") || Has(text, "UNAVAILABLE") || Has(text, "timed out") || Has(text, "503"))
        {
            return new(ProviderUnavailable, "The provider's token endpoint did not answer; this is usually transient. Check egress to the provider (HTTPS 443) and retry.");
        }

        return new(InvalidGrant, "The token could not be obtained: " + Trim(text) + ". Authorize the mailbox again; if it fails the same way, check the OAuth client's settings against docs/setup.");
    }

    /// <summary>Classifies a POP3 server's reply to a login (AUTH step).</summary>
    public static DiagnosticFinding ClassifyAuthError(string text, HintContext context, bool password)
    {
        // Provider lines with a hint of their own (Pop3/LoginReplyClassifier, also used for the errors of StreamMessages).
        if (ProviderLineHint(text, context, password) is { } providerHint)
        {
            return providerHint;
        }

        if (Has(text, "[IN-USE]"))
        {
            return new(MailboxInUse, "Another POP3 session holds the mailbox's lock (another client, a stuck MailGrpc session, or a mail app). Close other POP3 clients of this mailbox; a stale lock clears when that session times out.");
        }

        if (Has(text, "not enabled for POP access") || Has(text, "[SYS/PERM]"))
        {
            return new(PopDisabled, "POP is disabled for this Gmail account: in Gmail settings → Forwarding and POP/IMAP, enable POP (or, for Workspace, the admin must allow POP in the Admin console).");
        }

        if (Has(text, "Protocol disabled") || Has(text, "POP3 is disabled") || Has(text, "PopEnabled"))
        {
            return new(PopDisabled, "POP is disabled for this Exchange mailbox: an administrator runs Set-CASMailbox -Identity <mailbox> -PopEnabled $true (or enables POP in the Microsoft 365 admin center → Mail → Manage email apps).");
        }

        if (context.Provider == MailboxProvider.Microsoft && context.AppOnly && (Has(text, "unknown user name or bad password") || Has(text, "Authentication failure") || Has(text, "authenticated but not connected")))
        {
            return new(ExchangeAppPermissionMissing, "Exchange accepted the app-only token but the app may not open this mailbox. In Exchange Online PowerShell: New-ServicePrincipal -AppId <application id> -ObjectId <enterprise application object id>, then Add-MailboxPermission -Identity <mailbox> -User <service principal id> -AccessRights FullAccess. Also check POP is enabled (Set-CASMailbox -PopEnabled $true) and the SASL user is the mailbox address.");
        }

        if (context.Provider == MailboxProvider.Microsoft && (Has(text, "unknown user name or bad password") || Has(text, "Logon failure")))
        {
            return new(PopDisabled, "Exchange refused the login. Usual causes, in order: POP is disabled for the mailbox (Set-CASMailbox -PopEnabled $true); the token lacks https://outlook.office.com/POP.AccessAsUser.All; the SASL user is not the mailbox's primary address (for a shared mailbox, use the shared address and give the user FullAccess).");
        }

        if (password)
        {
            return new(PasswordRefused, "The server refused the password. For Microsoft and Google accounts basic authentication is off: use OAuth. Elsewhere, set an app password with SetMailboxPassword.");
        }

        if (Has(text, "invalid_token") || Has(text, "\"status\":\"400\"") || Has(text, "\"status\":\"401\"") || Has(text, "Invalid credentials") || Has(text, "AUTHENTICATIONFAILED") || Has(text, "Authentication failed"))
        {
            return new(TokenRefused, context.Provider == MailboxProvider.Google
                ? "Gmail refused the access token: the token must carry the scope https://mail.google.com/ and the SASL user must be the account that consented. Authorize the mailbox again with that account."
                : "The POP3 server refused the access token: it may be expired or revoked, issued for another user, or lack the POP scope. Authorize the mailbox again; check the OAuth client's Scopes.");
        }

        return new(TokenRefused, "The POP3 server refused the login: " + Trim(text) + ". Authorize the mailbox again; if it keeps failing, check the username and the OAuth client's scopes.");
    }

    /// <summary>Classifies a failure reading the maildrop (STAT step).</summary>
    public static DiagnosticFinding ClassifyStatError(string text) =>
        Has(text, "[IN-USE]")
            ? new(MailboxInUse, "Another POP3 session holds the mailbox's lock. Close other POP3 clients of this mailbox and try again.")
            : new(StatFailed, "The server accepted the login but could not open the maildrop: " + Trim(text) + ".");

    private static DiagnosticFinding? ProviderLineHint(string text, HintContext context, bool password)
    {
        var (refusal, hintId) = Pop3.LoginReplyClassifier.Classify(text, context.Provider, password);
        return hintId is Pop3.LoginReplyClassifier.GmailAppPasswordHint or Pop3.LoginReplyClassifier.GmailWebLoginHint
            or Pop3.LoginReplyClassifier.GmailPasswordHint or Pop3.LoginReplyClassifier.ExchangeProtocolErrorHint
            or Pop3.LoginReplyClassifier.TemporaryHint
            || (hintId == Pop3.LoginReplyClassifier.ExchangeBasicAuthOffHint && password)
            ? new DiagnosticFinding(hintId, refusal.Hint)
            : null;
    }

    private static bool Has(string text, string pattern) => text.Contains(pattern, StringComparison.OrdinalIgnoreCase);

    private static string Trim(string text)
    {
        var line = text.ReplaceLineEndings(" ").Trim().TrimEnd('.');
        return line.Length <= 200 ? line : line[..200] + "…";
    }
}
