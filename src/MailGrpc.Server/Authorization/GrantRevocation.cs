using MailGrpc.Server.Authorization.Providers;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Authorization;

/// <summary>
/// Revokes a mailbox's OAuth grant at its provider (RFC 7009; MSAL's account removal for Microsoft) before the mailbox is
/// deleted, so its tokens stop introspecting as active. Best effort: a provider that offers no revocation, or does not
/// answer, does not stop a delete; the result says whether the provider confirmed.
/// </summary>
internal sealed partial class GrantRevocation(CredentialStore credentials, OAuthClientRegistry clients, ILogger<GrantRevocation> logger)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>True when the provider confirmed the revocation; false when there was nothing to revoke or it did not.</summary>
    public async Task<bool> RevokeAtProviderAsync(MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        if (mailbox.AuthKind != MailboxAuthKind.OAuth)
        {
            return false;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Bound);
        try
        {
            var loaded = await credentials.GetAsync(mailbox.Tenant, mailbox.Id, timeout.Token);
            if (loaded is not { Credential.Kind: CredentialKind.Delegated or CredentialKind.AppOnly })
            {
                return false;
            }

            var (client, provider) = clients.For(mailbox);
            try
            {
                return await provider.RevokeAsync(client, mailbox, loaded.Credential, timeout.Token);
            }
            finally
            {
                await provider.ForgetAsync(client, mailbox, CancellationToken.None);
            }
        }
        catch (Exception ex) when (ex is OAuthProviderException or MailGrpcException or SecretUnreadableException or HttpRequestException
                                   || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            LogFailed(logger, mailbox.Tenant, mailbox.Id, ex.GetType().Name);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Revoking the grant of {Tenant}/{MailboxId} at the provider failed ({ErrorType}); the mailbox is deleted anyway")]
    private static partial void LogFailed(ILogger logger, string tenant, string mailboxId, string errorType);
}
