using System.Net;
using System.Net.Sockets;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Diagnostics;

/// <summary>DiagnoseMailbox against deliberately broken DNS, TCP, TLS and CAPA steps.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes through IAsyncLifetime.DisposeAsync.")]
[Trait("Layer", "Fast")]
public sealed class DiagnoseMailboxTests : IAsyncLifetime
{
    private readonly TestTenant _tenant = TestTenant.Create("diag");
    private readonly string _caFile = Path.Combine(Path.GetTempPath(), $"mailgrpc-diag-ca-{Guid.NewGuid():N}.pem");
    private TlsTestServer _wrongName = null!;
    private TlsTestServer _noXoauth2 = null!;
    private MailGrpcTestHost _host = null!;

    public Task InitializeAsync()
    {
        // Each server has its own CA; the one trusted is the CAPA server's, so only the wrong-name server fails on its name.
        _wrongName = new TlsTestServer("wrong-name.mailgrpc.test", ipSan: false, "USER\nSASL PLAIN XOAUTH2", _caFile + ".wrong");
        _noXoauth2 = new TlsTestServer("pop.mailgrpc.test", ipSan: true, "USER\nUIDL\nSASL PLAIN LOGIN", _caFile);
        var settings = MailGrpcTestHost.ApiKeySettings(_tenant);
        settings["MailGrpc:Network:AllowPrivateAddresses"] = "true";
        settings["MailGrpc:Tls:ExtraTrustedCaFile"] = _caFile;
        settings["MailGrpc:OAuthClients:test:Provider"] = "Generic";
        settings["MailGrpc:OAuthClients:test:ClientId"] = "diag-client";
        settings["MailGrpc:OAuthClients:test:Authority"] = "https://127.0.0.1:18443";
        _host = new MailGrpcTestHost(settings);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _wrongName.DisposeAsync();
        await _noXoauth2.DisposeAsync();
        File.Delete(_caFile);
        File.Delete(_caFile + ".wrong");
    }

    [Fact]
    public async Task An_unresolvable_host_fails_at_DNS_and_skips_the_rest()
    {
        var response = await DiagnoseAsync("pop.does-not-exist.invalid", 995);

        AssertFailedAt(response, DiagnosticStepKind.Dns, "HOST_NOT_FOUND");
        Assert.Contains("pop.does-not-exist.invalid", response.Steps[0].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_closed_port_fails_at_TCP_with_a_port_hint()
    {
        var response = await DiagnoseAsync("127.0.0.1", ClosedPort());

        AssertFailedAt(response, DiagnosticStepKind.Tcp, "CONNECTION_REFUSED");
        Assert.Contains("995", response.Steps[1].Hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_for_another_name_fails_at_TLS_with_a_name_mismatch()
    {
        var response = await DiagnoseAsync("127.0.0.1", _wrongName.Port);

        AssertFailedAt(response, DiagnosticStepKind.Tls, "TLS_NAME_MISMATCH");
        Assert.Contains("wrong-name.mailgrpc.test", response.Steps[2].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_does_not_offer_XOAUTH2_fails_at_CAPA()
    {
        var response = await DiagnoseAsync("127.0.0.1", _noXoauth2.Port);

        AssertFailedAt(response, DiagnosticStepKind.Capa, "XOAUTH2_NOT_OFFERED");
        Assert.Equal(DiagnosticOutcome.Ok, response.Steps[2].Outcome);
        Assert.Contains("PLAIN LOGIN", response.Steps[3].Detail, StringComparison.Ordinal);
        Assert.True(response.Steps.Take(3).All(s => s.Duration is not null));
    }

    [Fact]
    public async Task An_unknown_mailbox_is_NOT_FOUND()
    {
        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => _host.Mailboxes(_tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = "no-such-mailbox" }).ResponseAsync);
        Assert.Equal(Grpc.Core.StatusCode.NotFound, error.StatusCode);
    }

    private async Task<DiagnoseMailboxResponse> DiagnoseAsync(string host, int port)
    {
        var client = _host.Mailboxes(_tenant.ApiKey);
        var created = await client.CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = new Mailbox
            {
                Username = "user@mailgrpc.test",
                Provider = Provider.Generic,
                Server = new ServerSettings { Host = host, Port = port, Security = Security.ImplicitTls },
                AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "test", Mechanism = SaslMechanism.Xoauth2 } },
            },
        });
        return await client.DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = created.Mailbox.MailboxId });
    }

    private static void AssertFailedAt(DiagnoseMailboxResponse response, DiagnosticStepKind kind, string reason)
    {
        Assert.False(response.Healthy);
        Assert.Equal(7, response.Steps.Count);
        var failed = Assert.Single(response.Steps, s => s.Outcome == DiagnosticOutcome.Failed);
        Assert.Equal(kind, failed.Kind);
        Assert.Equal(reason, failed.Reason);
        Assert.False(string.IsNullOrWhiteSpace(failed.Hint));
        var index = response.Steps.IndexOf(failed);
        Assert.All(response.Steps.Take(index), s => Assert.Equal(DiagnosticOutcome.Ok, s.Outcome));
        Assert.All(response.Steps.Where((_, i) => i > index), s => Assert.Equal(DiagnosticOutcome.Skipped, s.Outcome));
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
