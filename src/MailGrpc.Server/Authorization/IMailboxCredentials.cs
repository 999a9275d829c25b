using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Authorization;

/// <summary>What a POP3 login needs: the SASL user name and a secret (an OAuth access token or an app password).</summary>
internal sealed record Pop3Credential(Pop3CredentialKind Kind, string Username, string Secret, DateTimeOffset? ExpiresAt)
{
    // Never print the secret, not even in a debugger or a log scope.
    public override string ToString() => $"{Kind} credential for {Username}";
}

internal enum Pop3CredentialKind
{
    AccessToken = 1,
    Password,
}

/// <summary>
/// The seam between the POP3 code and the token layer. The POP3 code asks for a credential right before it logs in and
/// reports a refused one; the token layer owns refreshing, single-flight, locks and mailbox state.
/// </summary>
internal interface IMailboxCredentials
{
    /// <summary>
    /// A credential valid now (an access token refreshed ahead of expiry, or the stored password).
    /// FAILED_PRECONDITION (<c>NOT_AUTHORIZED</c> / <c>REAUTHORIZATION_REQUIRED</c> / <c>MAILBOX_DISABLED</c>) when there is
    /// none to give; UNAVAILABLE when the provider cannot be reached.
    /// </summary>
    Task<Pop3Credential> GetAsync(MailboxRecord mailbox, CancellationToken cancellationToken);

    /// <summary>
    /// The POP3 server refused <paramref name="refused"/>. Forces one refresh (when the credential is a token) and returns
    /// the new credential to retry with once. For a password, or when the refresh fails, moves the mailbox to
    /// REAUTHORIZATION_REQUIRED and throws FAILED_PRECONDITION.
    /// </summary>
    Task<Pop3Credential> RenewAfterRefusalAsync(MailboxRecord mailbox, Pop3Credential refused, CancellationToken cancellationToken);

    /// <summary>
    /// The retry was refused too: records REAUTHORIZATION_REQUIRED with <paramref name="reason"/> and returns the error to throw.
    /// </summary>
    Task<Exception> GiveUpAfterRefusalAsync(MailboxRecord mailbox, string reason, string message, CancellationToken cancellationToken);
}
