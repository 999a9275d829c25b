using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MailGrpc.Tests.Authorization;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using MailKit.Net.Pop3;
using MailKit.Security;

namespace MailGrpc.Tests.Operations;

/// <summary>
/// DiagnoseMailbox through a real server process against the rig's Dovecot and OAuth server, with the real token layer:
/// every step of a healthy mailbox, and the failing step, reason and hint of each common fault.
/// </summary>
[Collection("pop3")]
public sealed class DiagnoseMailboxRigTests(Pop3Rig rig)
{
    private Dictionary<string, string?> Settings(TestTenant tenant) => rig.ServerProcessSettings(tenant);

    [Fact]
    public async Task A_healthy_password_mailbox_passes_every_step_and_stat_shows_count_and_size()
    {
        var tenant = TestTenant.Create("diag");
        await using var server = await ServerProcess.StartAsync(Settings(tenant));
        var user = Pop3Rig.NewUser("diag-ok");
        var password = rig.AddPasswordUser(user);
        var seeded = Enumerable.Range(0, 3).Select(i => Pop3Rig.MakeMessage(i, 4_000 + i)).ToList();
        await rig.SeedAsync(user, seeded);
        var id = await CreatePasswordMailboxAsync(server, tenant, user, password, rig.Pop3sPort);

        var diagnosis = await server.Mailboxes(tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });

        Assert.True(diagnosis.Healthy, diagnosis.ToString());
        Assert.Equal(
            [DiagnosticStepKind.Dns, DiagnosticStepKind.Tcp, DiagnosticStepKind.Tls, DiagnosticStepKind.Capa, DiagnosticStepKind.Token, DiagnosticStepKind.Auth, DiagnosticStepKind.Stat],
            diagnosis.Steps.Select(s => s.Kind));
        Assert.All(diagnosis.Steps, s => Assert.Equal(DiagnosticOutcome.Ok, s.Outcome));
        var stat = diagnosis.Steps.Single(s => s.Kind == DiagnosticStepKind.Stat).Detail;
        Assert.Contains($"3 message(s), {seeded.Sum(m => m.Length)} bytes", stat, StringComparison.Ordinal);
        Assert.DoesNotContain(password, diagnosis.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_for_another_name_fails_tls_with_the_name_mismatch_hint()
    {
        var tenant = TestTenant.Create("diag");
        await using var server = await ServerProcess.StartAsync(Settings(tenant));
        var user = Pop3Rig.NewUser("diag-name");
        var id = await CreatePasswordMailboxAsync(server, tenant, user, "irrelevant-pw", rig.WrongNamePort);

        var diagnosis = await server.Mailboxes(tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });

        var failed = Assert.Single(diagnosis.Steps, s => s.Outcome == DiagnosticOutcome.Failed);
        Assert.Equal(DiagnosticStepKind.Tls, failed.Kind);
        Assert.Equal("TLS_NAME_MISMATCH", failed.Reason);
        Assert.Contains("wrong.example", failed.Detail, StringComparison.Ordinal);
        Assert.All(diagnosis.Steps.Where(s => s.Kind > DiagnosticStepKind.Tls), s => Assert.Equal(DiagnosticOutcome.Skipped, s.Outcome));
    }

    [Fact]
    public async Task A_mailbox_held_by_another_pop3_client_fails_auth_with_the_in_use_hint()
    {
        var tenant = TestTenant.Create("diag");
        await using var server = await ServerProcess.StartAsync(Settings(tenant));
        var user = Pop3Rig.NewUser("diag-inuse");
        var password = rig.AddPasswordUser(user);
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(0, 1_000)]);
        var id = await CreatePasswordMailboxAsync(server, tenant, user, password, rig.Pop3sPort);

        using var holder = new Pop3Client();
        await holder.ConnectAsync("127.0.0.1", rig.Pop3Port, SecureSocketOptions.None);
        await holder.AuthenticateAsync(user, password);
        Assert.Equal(1, holder.Count);

        var diagnosis = await server.Mailboxes(tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });

        var failed = Assert.Single(diagnosis.Steps, s => s.Outcome == DiagnosticOutcome.Failed);
        Assert.Equal(DiagnosticStepKind.Auth, failed.Kind);
        Assert.Equal("MAILBOX_IN_USE", failed.Reason);
        Assert.Contains("[IN-USE]", failed.Detail, StringComparison.Ordinal);
        Assert.Contains("Another POP3 session", failed.Hint, StringComparison.Ordinal);
        await holder.DisconnectAsync(true);
    }

    [Fact]
    public async Task A_wrong_password_fails_auth_with_the_password_hint()
    {
        var tenant = TestTenant.Create("diag");
        await using var server = await ServerProcess.StartAsync(Settings(tenant));
        var user = Pop3Rig.NewUser("diag-pw");
        rig.AddPasswordUser(user);
        const string Wrong = "not-the-password-71c3";
        var id = await CreatePasswordMailboxAsync(server, tenant, user, Wrong, rig.Pop3sPort);

        var diagnosis = await server.Mailboxes(tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });

        var failed = Assert.Single(diagnosis.Steps, s => s.Outcome == DiagnosticOutcome.Failed);
        Assert.Equal(DiagnosticStepKind.Auth, failed.Kind);
        Assert.Equal("PASSWORD_REFUSED", failed.Reason);
        Assert.Contains("SetMailboxPassword", failed.Hint, StringComparison.Ordinal);
        Assert.Equal(DiagnosticOutcome.Ok, diagnosis.Steps.Single(s => s.Kind == DiagnosticStepKind.Token).Outcome);
        Assert.DoesNotContain(Wrong, diagnosis.ToString(), StringComparison.Ordinal);
        Assert.False(diagnosis.Healthy);
    }

    [Fact]
    public async Task An_oauth_mailbox_whose_grant_was_revoked_fails_auth_with_a_reauthorize_hint_and_one_without_credential_fails_token()
    {
        var tenant = TestTenant.Create("diag");
        await using var server = await ServerProcess.StartAsync(Settings(tenant));
        var user = Pop3Rig.NewUser("diag-oauth");
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(0, 1_000)]);
        var id = await CreateOAuthMailboxAsync(server, tenant, user);
        await server.Authorization(tenant.ApiKey).ImportRefreshTokenAsync(new ImportRefreshTokenRequest { MailboxId = id, RefreshToken = (await rig.IssueGrantAsync(user)).Refresh });

        // Before the revocation: healthy, and the TOKEN step describes the token without showing it.
        var healthy = await server.Mailboxes(tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });
        Assert.True(healthy.Healthy, healthy.ToString());
        Assert.Contains("Access token for " + user, healthy.Steps.Single(s => s.Kind == DiagnosticStepKind.Token).Detail, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"eyJ[A-Za-z0-9_-]{10,}\.", healthy.ToString());

        await rig.RevokeUserAsync(user);
        var revoked = await server.Mailboxes(tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });
        var failed = Assert.Single(revoked.Steps, s => s.Outcome == DiagnosticOutcome.Failed);
        Assert.Equal(DiagnosticStepKind.Auth, failed.Kind);
        Assert.Equal("TOKEN_REFUSED", failed.Reason);
        Assert.Contains("Authorize the mailbox again", failed.Hint, StringComparison.Ordinal);

        var bare = await CreateOAuthMailboxAsync(server, tenant, Pop3Rig.NewUser("diag-bare"));
        var none = await server.Mailboxes(tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = bare });
        var tokenStep = Assert.Single(none.Steps, s => s.Outcome == DiagnosticOutcome.Failed);
        Assert.Equal(DiagnosticStepKind.Token, tokenStep.Kind);
        Assert.Equal("NOT_AUTHORIZED", tokenStep.Reason);
        Assert.Contains("BeginAuthorization", tokenStep.Hint, StringComparison.Ordinal);
        Assert.Equal(DiagnosticOutcome.Skipped, none.Steps.Single(s => s.Kind == DiagnosticStepKind.Auth).Outcome);
    }

    private static async Task<string> CreatePasswordMailboxAsync(ServerProcess server, TestTenant tenant, string user, string password, int port)
    {
        var id = "dg-" + Guid.NewGuid().ToString("N")[..8];
        await server.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = port, Security = Security.ImplicitTls }, AuthMethod = new AuthMethod { Password = new PasswordAuth() } },
        });
        await server.Authorization(tenant.ApiKey).SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password, SkipVerification = true });
        return id;
    }

    private async Task<string> CreateOAuthMailboxAsync(ServerProcess server, TestTenant tenant, string user)
    {
        var id = "dg-" + Guid.NewGuid().ToString("N")[..8];
        await server.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls }, AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "rig", Mechanism = MailGrpc.V1.SaslMechanism.Oauthbearer } } },
        });
        return id;
    }

}
