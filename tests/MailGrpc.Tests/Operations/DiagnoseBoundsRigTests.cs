using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;

namespace MailGrpc.Tests.Operations;

/// <summary>
/// DiagnoseMailbox is bounded as a whole and per step, names a wrong <c>security</c> setting at the TLS step (never a
/// provider outage), and gives password mailboxes password hints — through a real server process against the rig.
/// </summary>
[Collection("pop3-alone")] // bounds a wall-clock time: runs with nothing else running
public sealed class DiagnoseBoundsRigTests(Pop3Rig rig)
{
    [Theory]
    [InlineData(Security.None, true, "SECURITY_IMPLICIT_TLS")]
    [InlineData(Security.Starttls, true, "SECURITY_IMPLICIT_TLS")]
    [InlineData(Security.ImplicitTls, false, "SECURITY_STARTTLS")]
    public async Task A_security_setting_that_does_not_match_the_port_fails_tls_with_the_value_to_use_within_the_bound(Security security, bool tlsPort, string use)
    {
        var tenant = TestTenant.Create("diagb");
        await using var server = await ServerProcess.StartAsync(rig.ServerProcessSettings(tenant));
        var id = await CreateAsync(server, tenant, Pop3Rig.NewUser("diag-sec"), tlsPort ? rig.Pop3sPort : rig.Pop3Port, security);

        var clock = Stopwatch.StartNew();
        var diagnosis = await server.Mailboxes(tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });
        var elapsed = clock.Elapsed;

        var failed = Assert.Single(diagnosis.Steps, s => s.Outcome == DiagnosticOutcome.Failed);
        Assert.Equal(DiagnosticStepKind.Tls, failed.Kind);
        Assert.Equal("SECURITY_MISMATCH", failed.Reason);
        Assert.Contains(use, failed.Hint, StringComparison.Ordinal);
        Assert.Contains("server.security", failed.Hint, StringComparison.Ordinal);
        Assert.False(diagnosis.Healthy);
        Assert.True(elapsed < TimeSpan.FromSeconds(20), $"answered after {elapsed}");
    }

    [Fact]
    public async Task A_port_that_never_answers_fails_the_tls_step_on_its_bound_and_skips_the_rest_within_the_whole_bound()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var held = new List<Socket>();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                var socket = await silent.AcceptSocketAsync();
                lock (held)
                {
                    held.Add(socket);
                }
            }
        });
        var tenant = TestTenant.Create("diagb");
        var settings = rig.ServerProcessSettings(tenant);
        settings["MailGrpc:Diagnostics:Timeout"] = "00:00:03";
        settings["MailGrpc:Diagnostics:StepTimeout"] = "00:00:02";
        await using var server = await ServerProcess.StartAsync(settings);
        var id = await CreateAsync(server, tenant, Pop3Rig.NewUser("diag-silent"), port, Security.ImplicitTls);

        var clock = Stopwatch.StartNew();
        var diagnosis = await server.Mailboxes(tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });
        var elapsed = clock.Elapsed;

        var failed = Assert.Single(diagnosis.Steps, s => s.Outcome == DiagnosticOutcome.Failed);
        Assert.Equal(DiagnosticStepKind.Tls, failed.Kind);
        Assert.Equal("TLS_TIMEOUT", failed.Reason);
        Assert.DoesNotContain("PROVIDER", failed.Reason, StringComparison.Ordinal);
        Assert.All(diagnosis.Steps.Where(s => s.Kind > DiagnosticStepKind.Tls), s => Assert.Equal(DiagnosticOutcome.Skipped, s.Outcome));
        Assert.True(elapsed < TimeSpan.FromSeconds(3) + TimeSpan.FromSeconds(2), $"answered after {elapsed}");
        silent.Stop();
        lock (held)
        {
            held.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task A_password_mailbox_without_a_password_gets_the_set_mailbox_password_hint_not_an_oauth_flow()
    {
        var tenant = TestTenant.Create("diagb");
        await using var server = await ServerProcess.StartAsync(rig.ServerProcessSettings(tenant));
        var id = await CreateAsync(server, tenant, Pop3Rig.NewUser("diag-nopw"), rig.Pop3sPort, Security.ImplicitTls);

        var diagnosis = await server.Mailboxes(tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });

        var failed = Assert.Single(diagnosis.Steps, s => s.Outcome == DiagnosticOutcome.Failed);
        Assert.Equal(DiagnosticStepKind.Token, failed.Kind);
        Assert.Equal("PASSWORD_MISSING", failed.Reason);
        Assert.Contains("SetMailboxPassword", failed.Hint, StringComparison.Ordinal);
        Assert.DoesNotContain("BeginAuthorization", failed.Hint, StringComparison.Ordinal);
        Assert.DoesNotContain("refresh token", failed.Hint, StringComparison.OrdinalIgnoreCase);
    }

    private static async Task<string> CreateAsync(ServerProcess server, TestTenant tenant, string user, int port, Security security)
    {
        var id = "db-" + Guid.NewGuid().ToString("N")[..8];
        await server.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = port, Security = security }, AuthMethod = new AuthMethod { Password = new PasswordAuth() } },
        });
        return id;
    }
}
