using System.Text.Json.Nodes;
using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.Tests.Rig;
using MailGrpc.V1;

namespace MailGrpc.Tests.Providers;

/// <summary>
/// Dovecot answers <c>-ERR [SYS/TEMP]</c> when it cannot introspect a token (the OAuth server is down for that client):
/// UNAVAILABLE POP3_SERVER_UNAVAILABLE, no refresh, the mailbox stays ACTIVE and the same token works afterwards.
/// </summary>
[Collection("rig")]
public sealed class DovecotSysTempTests(RigEnvironment rig) : IAsyncDisposable
{
    private readonly Pop3Rig _pop3 = new();
    private MessagesHost? _host;

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        _pop3.Dispose();
    }

    [Fact]
    public async Task An_introspection_outage_at_login_is_UNAVAILABLE_and_changes_nothing()
    {
        _host = new MessagesHost(_pop3);
        var user = RigEnvironment.NewUser("systemp");
        rig.EnsureMailbox(user);
        await _pop3.SeedAsync(user, [Pop3Rig.MakeMessage(0, 2_000)]);
        // Scoped to this test's client: one introspection of its tokens fails with 503.
        var client = await rig.CreateClientAsync(new JsonObject { ["failIntrospection"] = "503", ["failIntrospectionCount"] = 1 });
        var token = (await rig.PasswordGrantAsync(user, client.ClientId, client.ClientSecret)).RequireAccessToken();
        var id = await _host.CreateActiveMailboxAsync(user, Security.ImplicitTls, _pop3.Pop3sPort, oauth: true);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.AccessToken, user, token, null);

        async Task<int> StreamAsync()
        {
            using var call = _host.Messages.StreamMessages(new StreamMessagesRequest { MailboxId = id });
            return (await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame)).Count;
        }

        var error = await RpcAssert.FailsAsync(StatusCode.Unavailable, "POP3_SERVER_UNAVAILABLE", StreamAsync);
        Assert.Contains("[SYS/TEMP]", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(0, _host.Credentials.RenewCalls);
        Assert.Equal(0, _host.Credentials.GiveUps);
        Assert.Equal(MailboxState.Active, (await _host.Mailboxes.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox.State);

        // The outage is over: the same token works.
        Assert.Equal(1, await StreamAsync());
    }
}
