using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Mailboxes;

// Until Mailboxes.MailboxState (core, #12) replaces the proto enum on MailboxRecord; then this line goes.
using MailboxState = MailGrpc.Server.Mailboxes.MailboxState;

namespace MailGrpc.Server.Authorization;

/// <summary>
/// A mailbox's authorization as the core sees it: its state, what kind of credential is held and until when. Never holds a
/// secret. The gRPC edge turns it into an <c>AuthorizationStatus</c>.
/// </summary>
internal sealed record MailboxAuthorization
{
    public required string MailboxId { get; init; }

    public required MailboxState State { get; init; }

    public CredentialKind CredentialKind { get; init; }

    public DateTimeOffset? AccessTokenExpiresAt { get; init; }

    public IReadOnlyList<string> GrantedScopes { get; init; } = [];

    public DateTimeOffset? LastRefreshAt { get; init; }

    public bool HasRefreshToken { get; init; }

    public string? LastErrorReason { get; init; }

    public string? LastErrorMessage { get; init; }

    /// <summary>The account that consented, or whose password a POP3 login accepted.</summary>
    public string? Account { get; init; }

    /// <summary>When access ends for good: a delegated grant without a refresh token ends with its access token.</summary>
    public DateTimeOffset? AccessEndsAt { get; init; }
}

/// <summary>A started authorization-code flow: the URL to send the person to, and the single-use state it carries.</summary>
internal sealed record AuthorizationLink(string AuthorizationUrl, string State, DateTimeOffset ExpiresAt, string RedirectUri)
{
    // The state is a bearer secret until redeemed.
    public override string ToString() => $"authorization link (expires {ExpiresAt:O})";
}

/// <summary>
/// What CompleteAuthorization was given: <see cref="State"/>, <see cref="Code"/> and <see cref="Iss"/> from the callback,
/// or the whole <see cref="CallbackUrl"/> (then any of the others given beside it must agree). Empty means not given.
/// </summary>
internal sealed record CodeRedemption(string State, string Code, string Iss, string CallbackUrl)
{
    public override string ToString() => "code redemption";
}

/// <summary>A password for a password mailbox; <see cref="SkipVerification"/> stores it without a trial POP3 login.</summary>
internal sealed record PasswordSubmission(string MailboxId, string Password, bool SkipVerification)
{
    public override string ToString() => $"password for {MailboxId}";
}

/// <summary>The result of a revocation: whether the provider confirmed it, and the mailbox's authorization afterwards.</summary>
internal sealed record AuthorizationRevocation(bool RevokedAtProvider, MailboxAuthorization Status);

/// <summary>One event of a device-authorization flow: first the prompt to show, last the completed authorization.</summary>
internal abstract record DeviceAuthorizationEvent;

/// <summary>What the person must see to approve the device flow: a code and where to enter it.</summary>
internal sealed record DeviceCodeShown(string UserCode, string VerificationUri, string? VerificationUriComplete, DateTimeOffset ExpiresAt) : DeviceAuthorizationEvent;

/// <summary>The person approved; the credential is stored.</summary>
internal sealed record DeviceAuthorizationCompleted(MailboxAuthorization Status) : DeviceAuthorizationEvent;

/// <summary>The values of an authorization callback (<c>iss</c> per RFC 9207; <c>error</c> when the provider refused).</summary>
internal sealed record CallbackValues(string State, string Code, string? Iss, string? Error, string? ErrorDescription)
{
    public override string ToString() => "authorization callback";
}

/// <summary>A completed authorization-code flow: the status and the mailbox it was for (for the person's page).</summary>
internal sealed record CompletedAuthorization(MailboxAuthorization Status, MailboxRecord Mailbox);
