using MailGrpc.Server.Errors;

namespace MailGrpc.Server.Authorization.Broker;

/// <summary>How a mailbox came to need a new authorization; the caller's message is worded per occasion.</summary>
internal enum ReauthorizationOccasion
{
    /// <summary>The provider refused the stored grant (<c>invalid_grant</c>) during a refresh.</summary>
    GrantRefused,

    /// <summary>The access token expired and no refresh token is held; no provider was asked.</summary>
    NoRefreshToken,

    /// <summary>The POP3 server refused the credential again after a renewal (or refused a password).</summary>
    LoginRefused,

    /// <summary>The mailbox was already marked as needing a new authorization.</summary>
    AlreadyRecorded,
}

/// <summary>
/// Why a mailbox needs a new authorization: the <c>cause</c> reason the caller sees in the error's metadata (and the mailbox
/// records as its last error), the text recorded with it, and the provider's error code when a provider refused.
/// </summary>
internal sealed record ReauthorizationCause(ReauthorizationOccasion Occasion, string Reason, string Message, string? ProviderError = null)
{
    /// <summary>The provider refused the stored grant; <paramref name="detail"/> is its error (and description), cut to size.</summary>
    public static ReauthorizationCause GrantRefused(string providerError, string detail) =>
        new(ReauthorizationOccasion.GrantRefused, ErrorReasons.InvalidGrant, detail, providerError);

    /// <summary>No refresh token is held; <paramref name="description"/> says why (from the provider layer, no secret).</summary>
    public static ReauthorizationCause NoRefreshToken(string? description) =>
        new(ReauthorizationOccasion.NoRefreshToken, ErrorReasons.NoRefreshToken, $"The access token expired and no refresh token is held ({description}); authorize the mailbox again.");

    /// <summary>The POP3 server refused the credential for good: <paramref name="reason"/> names why (e.g. INVALID_PASSWORD).</summary>
    public static ReauthorizationCause LoginRefused(string reason, string message) =>
        new(ReauthorizationOccasion.LoginRefused, reason, message);

    /// <summary>The cause the mailbox already records (its last error reason).</summary>
    public static ReauthorizationCause AlreadyRecorded(string? lastErrorReason) =>
        new(ReauthorizationOccasion.AlreadyRecorded, lastErrorReason ?? string.Empty, string.Empty);
}
