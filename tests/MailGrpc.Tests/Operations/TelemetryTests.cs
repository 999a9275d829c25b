using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Grpc.Health.V1;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Operations;

/// <summary>
/// The real server process: Prometheus scrape on its own port with MailGrpc's metrics, structured logs with tenant and
/// mailbox scopes and no secret in any line, the built-in --healthcheck probe and the liveness service.
/// </summary>
public sealed class TelemetryTests
{
    private const string ClientSecret = "seeded-client-secret-6f1d2c9a";
    private const string EncryptionKey = "q3wV0Yt3m8qN5m3v1VdYjO9m0Jt4kq2d1yq7mQ2f2qI=";

    [Fact]
    public async Task A_scrape_shows_MailGrpc_metrics_and_no_log_line_holds_a_secret()
    {
        var tenant = TestTenant.Create("otel");
        var settings = MailGrpcTestHost.ApiKeySettings(tenant);
        settings["MailGrpc:Network:AllowPrivateAddresses"] = "true";
        settings["MailGrpc:OAuthClients:test:Provider"] = "Generic";
        settings["MailGrpc:OAuthClients:test:ClientId"] = "otel-client";
        settings["MailGrpc:OAuthClients:test:ClientSecret"] = ClientSecret;
        settings["MailGrpc:OAuthClients:test:Authority"] = "https://127.0.0.1:18443";
        settings["MailGrpc:Encryption:Keys:k1"] = EncryptionKey;
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        settings["Logging:LogLevel:Default"] = "Debug";
        settings["Logging:Console:FormatterName"] = "json";
        settings["Logging:Console:FormatterOptions:IncludeScopes"] = "true";
        await using var server = await ServerProcess.StartAsync(settings);

        var client = server.Mailboxes(tenant.ApiKey);
        var created = await client.CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = "otel-box",
            Mailbox = new Mailbox
            {
                Username = "user@mailgrpc.test",
                Provider = Provider.Generic,
                Server = new ServerSettings { Host = "127.0.0.1", Port = ClosedPort(), Security = Security.ImplicitTls },
                AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "test" } },
            },
        });
        for (var i = 0; i < 2; i++)
        {
            var diagnosis = await client.DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = created.Mailbox.MailboxId });
            Assert.Equal(DiagnosticStepKind.Tcp, diagnosis.Steps.Single(s => s.Outcome == DiagnosticOutcome.Failed).Kind);
        }

        await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => server.Mailboxes("wrong-" + tenant.ApiKey).GetMailboxAsync(new GetMailboxRequest { MailboxId = "otel-box" }).ResponseAsync);

        using var http = new HttpClient();
        var scrape = await http.GetStringAsync(new Uri($"http://127.0.0.1:{server.MetricsPort}/metrics"));

        // Two diagnoses: DNS ok twice, TCP failed twice with its reason; ASP.NET Core request metrics are there too.
        Assert.Matches(@"mailgrpc_diagnose_steps_total\{[^}]*outcome=""Ok""[^}]*step=""Dns""[^}]*\} 2", scrape);
        Assert.Matches(@"mailgrpc_diagnose_steps_total\{[^}]*outcome=""Failed""[^}]*reason=""CONNECTION_REFUSED""[^}]*step=""Tcp""[^}]*\} 2", scrape);
        Assert.Contains("http_server_request_duration_seconds", scrape, StringComparison.Ordinal);
        Assert.Contains("DiagnoseMailbox", scrape, StringComparison.Ordinal);

        // The scrape is served on the metrics port only.
        using var wrongPort = await http.GetAsync(new Uri($"http://127.0.0.1:{server.WebPort}/metrics"));
        Assert.Equal(HttpStatusCode.NotFound, wrongPort.StatusCode);

        await server.TerminateAsync(TimeSpan.FromSeconds(30));
        var output = server.Output;
        Assert.Contains("\"MailboxId\":\"otel-box\"", output, StringComparison.Ordinal);
        Assert.Contains($"\"Tenant\":\"{tenant.Name}\"", output, StringComparison.Ordinal);
        foreach (var secret in new[] { tenant.ApiKey, ClientSecret, EncryptionKey, tenant.KeyHash })
        {
            Assert.DoesNotContain(secret, output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_healthcheck_mode_exits_0_against_a_serving_server_and_1_against_a_closed_port()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string?>());
        var liveness = await new Health.HealthClient(server.Channel).CheckAsync(new HealthCheckRequest { Service = "liveness" });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, liveness.Status);

        Assert.Equal(0, await ProbeAsync($"http://0.0.0.0:{server.GrpcPort}"));
        Assert.Equal(0, await ProbeAsync($"http://0.0.0.0:{server.GrpcPort}", "--service=liveness"));
        Assert.Equal(1, await ProbeAsync($"http://127.0.0.1:{ClosedPort()}"));
    }

    private static async Task<int> ProbeAsync(string grpcUrl, params string[] extra)
    {
        var info = RepoPaths.ServerStartInfo(["--healthcheck", .. extra]);
        info.Environment["Kestrel__Endpoints__Grpc__Url"] = grpcUrl;
        using var process = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return process.ExitCode;
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
