using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Diagnostics;

/// <summary>
/// Hints that depend on how the mailbox logs in — its auth method (password or OAuth) and the STORED credential kind
/// (delegated, app-only, password; never guessed from the token) — and on the exact reason the token layer gave. Runs
/// before the text classifier of <see cref="DiagnosticHints"/>, which it falls back to.
/// </summary>
internal static class CredentialHints
{
    public const string SecurityMismatch = "SECURITY_MISMATCH";
    public const string GreetingTimeout = "GREETING_TIMEOUT";
    public const string TlsTimeout = "TLS_TIMEOUT";
    public const string Pop3Timeout = "POP3_TIMEOUT";
    public const string Pop3CredentialRefused = "POP3_CREDENTIAL_REFUSED";
    public const string PasswordMissing = "PASSWORD_MISSING";
    public const string AdminConsentMissing = "ADMIN_CONSENT_MISSING";
    public const string ClientIdInvalid = "CLIENT_ID_INVALID";
    public const string TenantNotFound = "TENANT_NOT_FOUND";
    public const string ProviderThrottled = "PROVIDER_THROTTLED";
    public const string StoreUnavailable = "STORE_UNAVAILABLE";
    public const string CredentialUnreadable = "CREDENTIAL_UNREADABLE";

    /// <summary>Classifies a token-layer error by its reason (and the mailbox's recorded cause); null to fall back to the text.</summary>
    public static DiagnosticFinding? ClassifyTokenFailure(MailGrpcException error, MailboxRecord mailbox, HintContext context)
    {
        var password = mailbox.AuthKind == MailboxAuthKind.Password;
        switch (error.Reason)
        {
            case ErrorReasons.NotAuthorized when password:
                return new(PasswordMissing, "No password is stored for this mailbox. " + PasswordGuidance(context.Provider));

            case ErrorReasons.ReauthorizationRequired or ErrorReasons.MailboxNotActive
                when mailbox.LastErrorReason == ErrorReasons.Pop3CredentialRefused:
                return Pop3Refusal(context, password);

            case ErrorReasons.OAuthClientSecretInvalid:
                return new(DiagnosticHints.ClientSecretInvalid, "The provider refused the OAuth client's secret (wrong, expired, or the secret's ID instead of its value). Create a new client secret in the app registration and set MailGrpc:OAuthClients:<name>:ClientSecret to its value.");

            case ErrorReasons.OAuthClientIdInvalid:
                return new(ClientIdInvalid, "The provider does not know the application: MailGrpc:OAuthClients:<name>:ClientId is wrong, or the app is registered in another tenant (then TenantId is wrong), or an administrator has not consented to it in this tenant yet.");

            case ErrorReasons.OAuthTenantNotFound:
                return new(TenantNotFound, "The provider does not know the tenant: fix MailGrpc:OAuthClients:<name>:TenantId (the directory (tenant) ID or a verified domain), or Authority for a sovereign cloud.");

            case ErrorReasons.OAuthAdminConsentRequired:
                return new(AdminConsentMissing, context.AppOnly
                    ? "Admin consent is missing: an administrator grants admin consent for the application permission POP.AccessAsApp (Office 365 Exchange Online) on the app registration's API permissions page, then AuthorizeWithClientCredentials again."
                    : "Consent is missing: the user (or an administrator, for the whole tenant) must consent to POP.AccessAsUser.All. Authorize again with BeginAuthorization, or grant admin consent in Entra.");

            case ErrorReasons.OAuthConditionalAccess:
                return new(DiagnosticHints.MfaOrConditionalAccess, "A Conditional Access policy blocks or interrupts the sign-in (MFA, device, location or sign-in frequency). An administrator adjusts the policy for this app (Entra → Protection → Conditional Access, sign-in logs by the correlation id), then the user authorizes again with BeginAuthorization.");

            case ErrorReasons.StoreUnavailable or ErrorReasons.RefreshLockTimeout:
                return new(StoreUnavailable, "MailGrpc's own state store (Redis) did not answer while reading the credential: this is not the provider. Check Redis (docs/operations.md) and retry.");

            case ErrorReasons.CredentialUnreadable:
                return new(CredentialUnreadable, "The stored credential cannot be decrypted with the configured keys: restore the MailGrpc:Encryption:Keys entry it was written with, or authorize the mailbox again. " + (password ? "For this password mailbox: SetMailboxPassword." : ReauthorizeWith(context)));

            case ErrorReasons.ProviderUnavailable when error.Metadata.ContainsKey("retry_after_seconds"):
                return new(ProviderThrottled, $"The provider throttled MailGrpc (HTTP 429) and asked it to wait {error.Metadata["retry_after_seconds"]} s; MailGrpc retries after that. Frequent throttling means too many token requests: check for mailboxes authorized again and again.");

            case ErrorReasons.ProviderUnavailable:
                return new(DiagnosticHints.ProviderUnavailable, "The provider's token endpoint did not answer or answered with a server error; this is usually transient. Check egress to the provider (HTTPS 443) and retry.");

            case ErrorReasons.InvalidGrant or ErrorReasons.ReauthorizationRequired or ErrorReasons.MailboxNotActive when !password:
                return new(DiagnosticHints.InvalidGrant, "The provider no longer accepts the mailbox's grant (expired after inactivity, revoked, password changed, or a policy). " + ReauthorizeWith(context));

            default:
                return null;
        }
    }

    /// <summary>The POP3 server refused a credential the provider had issued (cause POP3_CREDENTIAL_REFUSED).</summary>
    public static DiagnosticFinding Pop3Refusal(HintContext context, bool password)
    {
        if (password)
        {
            return new(DiagnosticHints.PasswordRefused, "The POP3 server refused the stored password (the provider was not involved). " + PasswordGuidance(context.Provider));
        }

        if (context.Provider == MailboxProvider.Microsoft && context.AppOnly)
        {
            return new(DiagnosticHints.ExchangeAppPermissionMissing, "Exchange refused the app-only token (Entra issued it): the app has no permission on this mailbox in Exchange. In Exchange Online PowerShell: New-ServicePrincipal -AppId <application id> -ObjectId <enterprise application object id>, then Add-MailboxPermission -Identity <mailbox> -User <service principal id> -AccessRights FullAccess; check Set-CASMailbox -PopEnabled $true. Then AuthorizeWithClientCredentials again.");
        }

        if (context.Provider == MailboxProvider.Microsoft)
        {
            return new(Pop3CredentialRefused, "Exchange refused the token although Entra issued it: POP may be disabled for the mailbox (Set-CASMailbox -PopEnabled $true), the token may lack https://outlook.office.com/POP.AccessAsUser.All, or the user is not the mailbox (for a shared mailbox give FullAccess). Fix that, then authorize again with BeginAuthorization (Microsoft mailboxes have no device flow here).");
        }

        return new(Pop3CredentialRefused, "The POP3 server refused the access token although the provider issued it: check the scope the server needs (Gmail: https://mail.google.com/) and that the token's user is the mailbox's username. " + ReauthorizeWith(context));
    }

    /// <summary>What a password mailbox needs, per provider.</summary>
    public static string PasswordGuidance(MailboxProvider provider) => provider switch
    {
        MailboxProvider.Google => "Gmail accepts app passwords only with 2-Step Verification on: create one at https://myaccount.google.com/apppasswords and store it with SetMailboxPassword (or use OAuth instead).",
        MailboxProvider.Microsoft => "Exchange Online has switched off basic authentication for POP: passwords do not work there. Use OAuth (auth_method.oauth with a Microsoft client). For on-premises Exchange, store the password with SetMailboxPassword.",
        _ => "Store the mailbox's (app) password with SetMailboxPassword; if the provider offers app passwords, create one for MailGrpc rather than using the account password.",
    };

    /// <summary>The flows that can authorize the mailbox again, by provider and stored credential kind.</summary>
    public static string ReauthorizeWith(HintContext context) => (context.Provider, context.AppOnly) switch
    {
        (_, true) => "Authorize it again with AuthorizeWithClientCredentials (app-only; no person involved).",
        (MailboxProvider.Microsoft, false) => "Authorize it again with BeginAuthorization (Microsoft mailboxes have no device flow here).",
        _ => "Authorize it again with BeginAuthorization or StartDeviceAuthorization.",
    };

    /// <summary>The reason of a step that hit its time bound.</summary>
    public static (string Reason, string Hint) Timeout(DiagnosticStepKind step) => step switch
    {
        DiagnosticStepKind.Dns => (DiagnosticHints.HostNotFound, "DNS did not answer in time: check the server's resolver and the host name."),
        DiagnosticStepKind.Tcp => (DiagnosticHints.ConnectTimeout, "A firewall drops the connection, or the port is wrong. POP3 is 995 (implicit TLS) or 110 (STARTTLS); allow egress to it."),
        DiagnosticStepKind.Tls => (TlsTimeout, "The TLS handshake got no answer: the port may not speak TLS as configured (995 is implicit TLS, 110 STARTTLS), or a middlebox holds the connection."),
        DiagnosticStepKind.Capa => (GreetingTimeout, "The server accepted the connection but did not answer as a POP3 server in time. Check host and port, and the mailbox's security setting."),
        DiagnosticStepKind.Token => (DiagnosticHints.ProviderUnavailable, "The provider's token endpoint did not answer in time; usually transient. Check HTTPS egress to the provider."),
        _ => (Pop3Timeout, "The POP3 server stopped answering during the step; it may be overloaded, or another session holds the mailbox."),
    };
}
