using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using MailGrpc.Tests.Authorization;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// MessageService through real server processes with the real token layer (encrypted credential store, token broker):
/// two replicas sharing the rig's Redis never open two POP3 sessions, and a token revoked at the OAuth server ends in
/// REAUTHORIZATION_REQUIRED after one forced refresh.
/// </summary>
[Collection("pop3")]
public sealed class EndToEndTests(Pop3Rig rig)
{
    private Dictionary<string, string?> Settings(TestTenant tenant) => OAuthRig.Settings(rig.Env("OAUTH_CLIENT_ID"), rig.Env("OAUTH_CLIENT_SECRET"), tenant);

    [Fact]
    public async Task Two_server_processes_stream_one_mailbox_concurrently_without_ever_two_pop3_sessions()
    {
        var tenant = TestTenant.Create("e2e");
        await using var a = await ServerProcess.StartAsync(Settings(tenant));
        await using var b = await ServerProcess.StartAsync(Settings(tenant));
        var user = Pop3Rig.NewUser("e2e");
        var password = rig.AddPasswordUser(user);
        var seeded = Enumerable.Range(0, 200).Select(i => Pop3Rig.MakeMessage(i, 30_000)).ToList();
        await rig.SeedAsync(user, seeded);

        var id = "e2e-" + Guid.NewGuid().ToString("N")[..8];
        await a.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls }, AuthMethod = new AuthMethod { Password = new PasswordAuth() } },
        });
        await b.Authorization(tenant.ApiKey).SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password });

        var logStart = new FileInfo(rig.DovecotLog).Length;
        var expected = seeded.Select(Pop3Rig.Sha256).ToHashSet();
        async Task Stream(ServerProcess server)
        {
            using var call = server.Messages(tenant.ApiKey).StreamMessages(new StreamMessagesRequest { MailboxId = id });
            var got = await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame);
            Assert.Equal(expected, got.Select(m => m.End!.Sha256).ToHashSet());
            Assert.All(got, m => Assert.Equal(m.ActualSha256, m.End!.Sha256));
        }

        await Task.WhenAll(Stream(a), Stream(b), Stream(a), Stream(b));

        // Every session's login and its end are in the log (Dovecot writes it asynchronously).
        var log = await DovecotLog.WaitForLinesAsync(rig.DovecotLog, logStart, user, lines =>
            lines.Count(l => l.Contains("Login: user=", StringComparison.Ordinal)) >= 4
            && lines.Count(l => l.Contains("Disconnected", StringComparison.Ordinal) && l.Contains("pop3(", StringComparison.Ordinal)) >= 4);
        Assert.DoesNotContain(log, l => l.Contains("IN-USE", StringComparison.OrdinalIgnoreCase));
        var open = 0;
        var logins = 0;
        foreach (var line in log)
        {
            if (line.Contains("Login: user=", StringComparison.Ordinal))
            {
                logins++;
                Assert.Equal(1, ++open);
            }
            else if (line.Contains("Disconnected", StringComparison.Ordinal) && line.Contains("pop3(", StringComparison.Ordinal))
            {
                open--;
            }
        }

        Assert.Equal(4, logins);
        Assert.Equal(0, open);
        Assert.DoesNotContain(password, a.Output + b.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_revoked_at_the_oauth_server_ends_in_reauthorization_required_after_one_retry()
    {
        var tenant = TestTenant.Create("e2e");
        await using var server = await ServerProcess.StartAsync(Settings(tenant));
        var user = Pop3Rig.NewUser("revoke");
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(0, 2_000)]);

        var id = "rv-" + Guid.NewGuid().ToString("N")[..8];
        await server.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls }, AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "rig", Mechanism = SaslMechanism.Oauthbearer } } },
        });
        var refreshToken = (await rig.IssueGrantAsync(user)).Refresh;
        await server.Authorization(tenant.ApiKey).ImportRefreshTokenAsync(new ImportRefreshTokenRequest { MailboxId = id, RefreshToken = refreshToken });

        using (var ok = server.Messages(tenant.ApiKey).StreamMessages(new StreamMessagesRequest { MailboxId = id }))
        {
            Assert.Single(await StreamedMessage.ReadAsync(ok.ResponseStream, r => r.Frame));
        }

        await rig.RevokeUserAsync(user);
        var logStart = new FileInfo(rig.DovecotLog).Length;
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "REAUTHORIZATION_REQUIRED", async () =>
        {
            using var call = server.Messages(tenant.ApiKey).StreamMessages(new StreamMessagesRequest { MailboxId = id });
            await call.ResponseStream.MoveNext();
        });
        var mailbox = (await server.Mailboxes(tenant.ApiKey).GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox;
        Assert.Equal(MailboxState.ReauthorizationRequired, mailbox.State);

        // Exactly one login attempt was made with the revoked token: the forced refresh failed, so there was no second.
        var attempts = (await DovecotLog.WaitForLinesAsync(rig.DovecotLog, logStart, user, lines => lines.Any(l => l.Contains("oauth2 failed", StringComparison.Ordinal))))
            .Count(l => l.Contains("oauth2 failed", StringComparison.Ordinal));
        Assert.Equal(1, attempts);

        // The mailbox is no longer read at all.
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "MAILBOX_NOT_ACTIVE", async () =>
        {
            using var call = server.Messages(tenant.ApiKey).StreamMessages(new StreamMessagesRequest { MailboxId = id });
            await call.ResponseStream.MoveNext();
        });
    }
}
