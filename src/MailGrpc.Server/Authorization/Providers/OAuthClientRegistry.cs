using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Authorization.Providers;

/// <summary>Finds a mailbox's configured OAuth client and the provider that speaks to it.</summary>
internal sealed class OAuthClientRegistry(IOptions<OAuthClientsOptions> options, IServiceProvider services)
{
    public (OAuthClient Client, IOAuthProvider Provider) For(MailboxRecord mailbox)
    {
        if (mailbox.AuthKind != MailboxAuthKind.OAuth || string.IsNullOrEmpty(mailbox.OAuthClient))
        {
            throw Failures.NotOAuthMailbox(mailbox.Id);
        }

        if (!options.Value.OAuthClients.TryGetValue(mailbox.OAuthClient, out var configured))
        {
            throw Failures.UnknownOAuthClient(mailbox.Id, mailbox.OAuthClient);
        }

        var provider = services.GetRequiredKeyedService<IOAuthProvider>(configured.Provider);
        return (new OAuthClient(mailbox.OAuthClient, configured), provider);
    }
}
