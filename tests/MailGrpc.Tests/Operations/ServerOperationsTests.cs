using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MailGrpc.Server.Storage;
using MailGrpc.Tests.Authorization;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;

namespace MailGrpc.Tests.Operations;

/// <summary>
/// A real server process against the rig (Redis, Dovecot, OAuth server): MailGrpc's own metrics after real streams, and
/// graceful shutdown of a long stream on SIGTERM.
/// </summary>
[Collection("pop3")]
public sealed partial class ServerOperationsTests(Pop3Rig rig)
{
    private Dictionary<string, string?> Settings(TestTenant tenant) => rig.ServerProcessSettings(tenant);

    [Fact]
    public async Task After_real_streams_the_scrape_counts_messages_bytes_sessions_lease_waits_refreshes_and_an_empty_byte_budget()
    {
        var tenant = TestTenant.Create("metrics");
        var settings = Settings(tenant);
        settings["MailGrpc:Tokens:RefreshMargin"] = "02:00:00"; // rig tokens live 1 h: every use refreshes
        await using var server = await ServerProcess.StartAsync(settings);

        // Password mailbox: 7 messages of assorted sizes.
        var user = Pop3Rig.NewUser("metrics");
        var password = rig.AddPasswordUser(user);
        var seeded = Enumerable.Range(0, 7).Select(i => Pop3Rig.MakeMessage(i, 3_000 + (i * 41_000))).ToList();
        await rig.SeedAsync(user, seeded);
        var passwordId = await CreatePasswordMailboxAsync(server, tenant, user, password);
        var streamed = await StreamAllAsync(server, tenant, passwordId);
        Assert.Equal(seeded.Count, streamed.Count);

        // Token mailbox: an imported refresh token is refreshed on first use.
        var tokenUser = Pop3Rig.NewUser("metrics-tok");
        var tokenMessage = Pop3Rig.MakeMessage(0, 5_000);
        await rig.SeedAsync(tokenUser, [tokenMessage]);
        var tokenId = "tok-" + Guid.NewGuid().ToString("N")[..8];
        await server.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = tokenId,
            Mailbox = new Mailbox { Username = tokenUser, Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls }, AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "rig", Mechanism = SaslMechanism.Oauthbearer } } },
        });
        await server.Authorization(tenant.ApiKey).ImportRefreshTokenAsync(new ImportRefreshTokenRequest { MailboxId = tokenId, RefreshToken = (await rig.IssueGrantAsync(tokenUser)).Refresh });
        Assert.Single(await StreamAllAsync(server, tenant, tokenId));

        using var http = new HttpClient();
        var scrape = await http.GetStringAsync(new Uri($"http://127.0.0.1:{server.MetricsPort}/metrics"));

        Assert.Equal(seeded.Count + 1, Value(scrape, "mailgrpc_messages_streamed_total", ("rpc", "StreamMessages")));
        Assert.Equal(seeded.Sum(m => m.Length) + tokenMessage.Length, Value(scrape, "mailgrpc_bytes_streamed_bytes_total", ("rpc", "StreamMessages")));
        Assert.True(Value(scrape, "mailgrpc_pop3_session_duration_seconds_count", ("outcome", "ok")) >= 2, scrape);
        Assert.True(Value(scrape, "mailgrpc_pop3_session_duration_seconds_sum", ("outcome", "ok")) > 0);
        Assert.True(Value(scrape, "mailgrpc_pop3_lease_wait_seconds_count", ("outcome", "acquired")) >= 2);
        Assert.Equal(0, Value(scrape, "mailgrpc_pop3_byte_budget_in_use_bytes"));
        Assert.Equal(1, Value(scrape, "mailgrpc_token_refreshes_total", ("outcome", "success"), ("reason", "expiring")));
        var expiry = Value(scrape, "mailgrpc_token_expiry_seconds", ("tenant", tenant.Name), ("mailbox", tokenId));
        Assert.InRange(expiry, 60, 24 * 3600);
        Assert.Equal(0, Count(scrape, "mailgrpc_token_expiry_seconds", ("mailbox", passwordId)));

        await server.TerminateAsync(TimeSpan.FromSeconds(30));
        Assert.DoesNotContain(password, server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_during_a_long_stream_drains_it_refuses_new_calls_exits_0_and_leaves_no_lease()
    {
        const int Count = 200;
        const int Size = 200_000;
        var tenant = TestTenant.Create("drain");
        var settings = Settings(tenant);
        // Far above what the slow read below takes even on a loaded machine: what is proven is that the stream drains to
        // its end, not how fast (ending streams at the drain deadline is DrainTests').
        settings["MailGrpc:Shutdown:DrainTimeout"] = "00:05:00";
        await using var server = await ServerProcess.StartAsync(settings);
        var user = Pop3Rig.NewUser("drain");
        var password = rig.AddPasswordUser(user);
        var seeded = Enumerable.Range(0, Count).Select(i => Pop3Rig.MakeMessage(i, Size)).ToList();
        await rig.SeedAsync(user, seeded);
        var id = await CreatePasswordMailboxAsync(server, tenant, user, password);

        using var call = server.Messages(tenant.ApiKey).StreamMessages(new StreamMessagesRequest { MailboxId = id });
        var ends = new List<MessageEnd>();
        Task<int>? terminated = null;
        RpcException? refused = null;
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan? sigtermAt = null;
        using var slowReader = new Pace(TimeSpan.FromMilliseconds(15));
        while (await call.ResponseStream.MoveNext())
        {
            var frame = call.ResponseStream.Current.Frame;
            if (frame.FrameCase != MessageFrame.FrameOneofCase.End)
            {
                continue;
            }

            ends.Add(frame.End);
            if (ends.Count == 3)
            {
                sigtermAt = stopwatch.Elapsed;
                terminated = server.TerminateAsync(TimeSpan.FromMinutes(6));
                await Eventually.WaitAsync(() => server.Output.Contains("Application is shutting down", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the server to take the SIGTERM");

                // A new call on a new connection while the stream drains. The log line comes a moment before Kestrel closes
                // its listener: a call that connected in between would be served (and wait for the mailbox's lease, which the
                // stream holds, until its deadline). So wait for the listener to be closed, then call.
                await server.WaitUntilRefusingConnectionsAsync(TimeSpan.FromSeconds(60));
                using var fresh = GrpcChannel.ForAddress(server.Address);
                refused = await Assert.ThrowsAsync<RpcException>(() => new MessageService.MessageServiceClient(fresh.Intercept(m => { m.Add("x-api-key", tenant.ApiKey); return m; }))
                    .ListMessagesAsync(new ListMessagesRequest { MailboxId = id }, deadline: DateTime.UtcNow.AddSeconds(60)).ResponseAsync);
            }

            // A slow reader: the stream outlives the signal by seconds.
            await slowReader.NextAsync();
        }

        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal(seeded.Select(Pop3Rig.Sha256), ends.Select(e => e.Sha256));
        Assert.NotNull(terminated);
        Assert.True(stopwatch.Elapsed - sigtermAt > TimeSpan.FromSeconds(2), "the stream must have outlived SIGTERM");
        Assert.Equal(0, await terminated);
        Assert.Equal(StatusCode.Unavailable, refused!.StatusCode);
        Assert.False(await TestRedis.Connection.GetDatabase().KeyExistsAsync(StoreKeys.Pop3Lease(tenant.Name, id)));
    }

    private async Task<string> CreatePasswordMailboxAsync(ServerProcess server, TestTenant tenant, string user, string password)
    {
        var id = "pw-" + Guid.NewGuid().ToString("N")[..8];
        await server.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls }, AuthMethod = new AuthMethod { Password = new PasswordAuth() } },
        });
        await server.Authorization(tenant.ApiKey).SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password });
        return id;
    }

    private static async Task<List<StreamedMessage>> StreamAllAsync(ServerProcess server, TestTenant tenant, string id)
    {
        using var call = server.Messages(tenant.ApiKey).StreamMessages(new StreamMessagesRequest { MailboxId = id });
        var got = await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame);
        Assert.All(got, m => Assert.Equal(m.ActualSha256, m.End!.Sha256));
        return got;
    }


    /// <summary>The sum of every sample of <paramref name="name"/> whose labels include <paramref name="labels"/>.</summary>
    internal static double Value(string scrape, string name, params (string Key, string Value)[] labels) =>
        Samples(scrape, name, labels).Sum();

    internal static int Count(string scrape, string name, params (string Key, string Value)[] labels) =>
        Samples(scrape, name, labels).Count();

    private static IEnumerable<double> Samples(string scrape, string name, (string Key, string Value)[] labels)
    {
        foreach (Match match in SampleLine().Matches(scrape))
        {
            if (match.Groups["name"].Value != name)
            {
                continue;
            }

            var text = match.Groups["labels"].Value;
            if (labels.All(l => text.Contains($"{l.Key}=\"{l.Value}\"", StringComparison.Ordinal)))
            {
                yield return double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            }
        }
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>\S+)", RegexOptions.Multiline)]
    private static partial Regex SampleLine();
}
