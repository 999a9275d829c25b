using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MailGrpc.Server.Storage;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using Xunit.Abstractions;

namespace MailGrpc.Tests.Faults;

/// <summary>
/// A stream still running when <c>DrainTimeout</c> is about to run out ends with UNAVAILABLE <c>SERVER_DRAINING</c> and the
/// resume hint — directly and through nginx — and the caller resumes with only_unacknowledged on another replica.
/// </summary>
[Collection("pop3-alone")] // bounds a wall-clock time: runs with nothing else running
public sealed class DrainTests(Pop3Rig rig, ITestOutputHelper output)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stream_outliving_the_drain_ends_unavailable_server_draining_and_resumes_elsewhere(bool viaNginx)
    {
        const int Count = 200;
        const int Size = 200_000;
        var tenant = TestTenant.Create("drain");
        var settings = rig.ServerProcessSettings(tenant);
        settings["MailGrpc:Shutdown:DrainTimeout"] = "00:00:12";
        await using var draining = await ServerProcess.StartAsync(settings);
        await using var other = await ServerProcess.StartAsync(settings);
        await using var proxy = viaNginx ? await NginxProxy.StartAsync(draining.GrpcPort) : null;
        var user = Pop3Rig.NewUser("drain");
        var password = rig.AddPasswordUser(user);
        var seeded = Enumerable.Range(0, Count).Select(i => Pop3Rig.MakeMessage(i, Size)).ToList();
        await rig.SeedAsync(user, seeded);
        var id = "dr-" + Guid.NewGuid().ToString("N")[..8];
        await draining.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls }, AuthMethod = new AuthMethod { Password = new PasswordAuth() } },
        });
        await draining.Authorization(tenant.ApiKey).SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password });

        using var channel = GrpcChannel.ForAddress(proxy?.Address ?? draining.Address, new GrpcChannelOptions { MaxReceiveMessageSize = 16 * 1024 * 1024 });
        var messages = new MessageService.MessageServiceClient(channel.Intercept(m => { m.Add("x-api-key", tenant.ApiKey); return m; }));
        using var call = messages.StreamMessages(new StreamMessagesRequest { MailboxId = id, Consumer = "c1" });
        var received = new List<string>();
        Task<int>? terminated = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan sigtermAt = default;
        var ex = await Record.ExceptionAsync(async () =>
        {
            using var slowReader = new Pace(TimeSpan.FromMilliseconds(100));
            while (await call.ResponseStream.MoveNext())
            {
                var frame = call.ResponseStream.Current.Frame;
                if (frame.FrameCase != MessageFrame.FrameOneofCase.End)
                {
                    continue;
                }

                received.Add(frame.End.Uid);
                if (received.Count == 3)
                {
                    sigtermAt = clock.Elapsed;
                    terminated = draining.TerminateAsync(TimeSpan.FromSeconds(30));
                }

                // A slow reader: the whole mailbox would take far longer than the drain allows.
                await slowReader.NextAsync();
            }
        });
        var endedAfter = clock.Elapsed - sigtermAt;
        var rpc = Assert.IsType<RpcException>(ex);
        Assert.True(rpc.StatusCode == StatusCode.Unavailable, rpc.Status.Detail + "\n" + draining.Output[^Math.Min(6000, draining.Output.Length)..]);
        output.WriteLine($"FIGURE drain{(viaNginx ? " via nginx" : string.Empty)}: stream ended {endedAfter.TotalSeconds:F1} s after SIGTERM with {(ex as RpcException)?.StatusCode} after {received.Count} of {Count} messages");

        var info = rpc.GetRpcStatus()?.GetDetail<ErrorInfo>();
        Assert.Equal("SERVER_DRAINING", info?.Reason);
        Assert.Equal("only_unacknowledged", info!.Metadata["resume"]);
        Assert.InRange(received.Count, 3, Count - 1);
        // The server ends the stream 3 s before DrainTimeout (12 s); this slow client sees the status after the frames it
        // had not read yet (how many depends on the machine's load, so the time is a FIGURE above, not a bound). What
        // matters is the status: a stream the host reset at DrainTimeout would have none (INTERNAL, checked above).
        Assert.True(endedAfter < TimeSpan.FromSeconds(60), $"the stream ended {endedAfter} after SIGTERM");
        Assert.Contains("open streams end with UNAVAILABLE SERVER_DRAINING", draining.Output, StringComparison.Ordinal);
        Assert.Equal(0, await terminated!);

        // Resume on the other replica: acknowledge what arrived, ask for the rest.
        await other.Messages(tenant.ApiKey).AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c1", Uids = { received } });
        var rest = new List<string>();
        using var resumed = other.Messages(tenant.ApiKey).StreamMessages(new StreamMessagesRequest { MailboxId = id, Consumer = "c1", OnlyUnacknowledged = true });
        while (await resumed.ResponseStream.MoveNext())
        {
            if (resumed.ResponseStream.Current.Frame.End is { } end)
            {
                rest.Add(end.Uid);
            }
        }

        Assert.Equal(Count, received.Count + rest.Count);
        Assert.Empty(received.Intersect(rest));
        Assert.False(await TestRedis.Connection.GetDatabase().KeyExistsAsync(StoreKeys.Pop3Lease(tenant.Name, id)));
    }
}
