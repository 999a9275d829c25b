using MailGrpc.Server.Errors;
using MailGrpc.V1;

namespace MailGrpc.Server.Pop3;

/// <summary>What a refused POP3 login means for the mailbox.</summary>
internal enum LoginRefusalKind
{
    /// <summary>The credential itself was refused (<c>[AUTH]</c> or no code): renew once, then REAUTHORIZATION_REQUIRED.</summary>
    Credential = 1,

    /// <summary>Retry later, credential and mailbox untouched (<c>[IN-USE]</c>, <c>[SYS/TEMP]</c>).</summary>
    Temporary,

    /// <summary>A permanent refusal that a new credential cannot fix (<c>[SYS/PERM]</c>, basic auth off, protocol error).</summary>
    Permanent,
}

/// <summary>A classified login refusal: what it is, the caller-facing reason and message, and a fix.</summary>
internal sealed record LoginRefusal(LoginRefusalKind Kind, string Reason, string Hint, string? ServerLine)
{
    /// <summary>The hint with the server's own line, for error messages (server lines never hold the client's secret).</summary>
    public string Explain => ServerLine is null ? Hint : $"{Hint} (server: {ServerLine})";

    /// <summary>Seconds a caller should wait before retrying a temporary refusal.</summary>
    public int RetryAfterSeconds => Reason == ErrorReasons.MailboxBusy ? 30 : 60;

    /// <summary>The status for a temporary or permanent refusal (credential refusals go through the token layer).</summary>
    public MailGrpcException ToException() =>
        Failures.Pop3LoginRefused(Reason, Explain, Kind == LoginRefusalKind.Temporary, ServerLine, RetryAfterSeconds);
}

/// <summary>
/// Classifies a POP3 server's reply to a login by its RESP-CODES (RFC 2449 <c>[IN-USE]</c>, <c>[LOGIN-DELAY]</c>;
/// RFC 3206 <c>[SYS/TEMP]</c>, <c>[SYS/PERM]</c>, <c>[AUTH]</c>) and by the known lines of Gmail and Exchange Online
/// (tests/rig/README.md names the public source of each). MailKit raises a bare AuthenticationException, so the line
/// comes from <see cref="LoginReplyRecorder"/>. The hints are what docs/troubleshooting.md lists.
/// </summary>
internal static class LoginReplyClassifier
{
    // Hint ids: DiagnoseMailbox's AUTH step reports them as its reason.
    public const string InUseHint = "MAILBOX_IN_USE";
    public const string TemporaryHint = "SERVER_TEMPORARILY_UNAVAILABLE";
    public const string PopDisabledHint = "POP_DISABLED";
    public const string GmailAppPasswordHint = "GMAIL_APP_PASSWORD_REQUIRED";
    public const string GmailWebLoginHint = "GMAIL_WEB_LOGIN_REQUIRED";
    public const string GmailPasswordHint = "GMAIL_PASSWORD_REFUSED";
    public const string GmailTokenHint = "GMAIL_TOKEN_REFUSED";
    public const string ExchangeBasicAuthOffHint = "EXCHANGE_BASIC_AUTH_OFF";
    public const string ExchangeTokenHint = "EXCHANGE_TOKEN_REFUSED";
    public const string ExchangeProtocolErrorHint = "EXCHANGE_AUTH_PROTOCOL_ERROR";

    /// <summary>Classifies <paramref name="line"/> (the server's last <c>-ERR</c> line, or null when it sent none).</summary>
    public static (LoginRefusal Refusal, string HintId) Classify(string? line, Mailboxes.MailboxProvider provider, bool password)
    {
        var text = line ?? string.Empty;
        if (Has(text, "[IN-USE]"))
        {
            return (new(LoginRefusalKind.Temporary, ErrorReasons.MailboxBusy,
                "The POP3 server says another session holds the mailbox ([IN-USE]): another mail client (a phone, a desktop app) or a session that has not ended yet. Nothing was changed; retry in a minute, and close other POP3 clients of this mailbox if it persists.", line), InUseHint);
        }

        if (Has(text, "[SYS/TEMP]") || Has(text, "[LOGIN-DELAY]"))
        {
            return (new(LoginRefusalKind.Temporary, ErrorReasons.Pop3ServerUnavailable,
                "The POP3 server reports a temporary problem (" + (Has(text, "[LOGIN-DELAY]") ? "[LOGIN-DELAY]" : "[SYS/TEMP]") + "). The credential is fine and nothing was changed; retry later.", line), TemporaryHint);
        }

        if (Has(text, "[SYS/PERM]"))
        {
            return (new(LoginRefusalKind.Permanent, ErrorReasons.Pop3AccessDisabled, provider == Mailboxes.MailboxProvider.Google
                ? "Gmail refuses POP access to this account ([SYS/PERM]): enable POP in Gmail settings → See all settings → Forwarding and POP/IMAP (for Google Workspace the administrator must allow POP). A new authorization does not help."
                : "The POP3 server refuses this mailbox permanently ([SYS/PERM]); an administrator must enable POP access for it. A new authorization does not help.", line), PopDisabledHint);
        }

        if (Has(text, "Protocol error"))
        {
            return (new(LoginRefusalKind.Permanent, ErrorReasons.Pop3AuthProtocolError,
                "Exchange Online closed the connection with a protocol error at login: it takes AUTH XOAUTH2 only in two steps and refuses access tokens longer than its line limit. Check the token's size (group claims can make Entra tokens very large) and that the mailbox uses XOAUTH2.", line), ExchangeProtocolErrorHint);
        }

        if (Has(text, "Application-specific password required"))
        {
            return (new(LoginRefusalKind.Credential, ErrorReasons.Pop3CredentialRefused,
                "Gmail wants an app password for this account (2-Step Verification is on): create one at https://myaccount.google.com/apppasswords and set it with SetMailboxPassword — or use OAuth.", line), GmailAppPasswordHint);
        }

        if (Has(text, "Web login required") || Has(text, "log in via your web browser"))
        {
            return (new(LoginRefusalKind.Credential, ErrorReasons.Pop3CredentialRefused,
                "Gmail blocked the sign-in until the user signs in through a web browser (a security check on a new location or device). Sign in at https://mail.google.com with that account, then set the password again with SetMailboxPassword — or use OAuth.", line), GmailWebLoginHint);
        }

        if (Has(text, "Logon failure"))
        {
            return (new(LoginRefusalKind.Permanent, ErrorReasons.Pop3BasicAuthDisabled,
                "Exchange Online refused the password: basic authentication is off for POP in Exchange Online. Register the mailbox with OAuth (provider Microsoft, POP.AccessAsUser.All or POP.AccessAsApp) instead of a password.", line), ExchangeBasicAuthOffHint);
        }

        if (Has(text, "Authentication failure"))
        {
            return (new(LoginRefusalKind.Credential, ErrorReasons.Pop3CredentialRefused,
                "Exchange Online refused the access token: the token must carry https://outlook.office.com/POP.AccessAsUser.All (or POP.AccessAsApp), the SASL user must be the mailbox's primary address, and POP must be enabled for the mailbox (Set-CASMailbox -PopEnabled $true).", line), ExchangeTokenHint);
        }

        if (provider == Mailboxes.MailboxProvider.Google || Has(text, "Username and password not accepted") || Has(text, "Invalid credentials"))
        {
            return password
                ? (new(LoginRefusalKind.Credential, ErrorReasons.Pop3CredentialRefused,
                    "Gmail refused the password. Gmail takes only an app password (with 2-Step Verification on) or OAuth: set an app password from https://myaccount.google.com/apppasswords with SetMailboxPassword.", line), GmailPasswordHint)
                : (new(LoginRefusalKind.Credential, ErrorReasons.Pop3CredentialRefused,
                    "Gmail refused the access token: it must carry the scope https://mail.google.com/ and be issued to the account named as the mailbox's username (a token of another account is refused). Authorize the mailbox again with that account.", line), GmailTokenHint);
        }

        return (new(LoginRefusalKind.Credential, ErrorReasons.Pop3CredentialRefused, password
            ? "The POP3 server refused the password" + Quote(line) + ". Set the right (app) password with SetMailboxPassword."
            : "The POP3 server refused the access token" + Quote(line) + ": it may be revoked, issued for another user, or lack the POP scope. Authorize the mailbox again.", line), password ? "PASSWORD_REFUSED" : "TOKEN_REFUSED");
    }

    private static string Quote(string? line) => line is null ? string.Empty : $" (\"{line}\")";

    private static bool Has(string text, string pattern) => text.Contains(pattern, StringComparison.OrdinalIgnoreCase);
}
