using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using MailGrpc.Server.Storage;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using Xunit.Abstractions;

namespace MailGrpc.Tests.Faults;

/// <summary>
/// Takeover: a replica SIGKILLed while it streams a mailbox (holding its POP3 lease) — another replica serves that mailbox,
/// having taken its lease within the lease's lifetime (10 s) of the kill, well inside a waiting call's <c>LeaseWait</c>
/// (30 s). Prints FIGURE lines for bench/faults.sh.
/// </summary>
[Collection("pop3-alone")] // bounds a wall-clock time: runs with nothing else running
public sealed class TakeoverTests(Pop3Rig rig, ITestOutputHelper output)
{
    private static readonly TimeSpan LeaseTime = TimeSpan.FromSeconds(10); // Pop3Options.LeaseTime's default, which the servers run with

    [Fact]
    public async Task A_mailbox_whose_replica_was_killed_mid_stream_is_served_by_another_within_the_lease()
    {
        var tenant = TestTenant.Create("takeover");
        var dying = await ServerProcess.StartAsync(rig.ServerProcessSettings(tenant));
        await using var survivor = await ServerProcess.StartAsync(rig.ServerProcessSettings(tenant));
        var user = Pop3Rig.NewUser("takeover");
        var password = rig.AddPasswordUser(user);
        await rig.SeedAsync(user, Enumerable.Range(0, 100).Select(i => Pop3Rig.MakeMessage(i, 200_000)).ToList());
        var id = "tk-" + Guid.NewGuid().ToString("N")[..8];
        await survivor.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls }, AuthMethod = new AuthMethod { Password = new PasswordAuth() } },
        });
        await survivor.Authorization(tenant.ApiKey).SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password });

        // The dying replica streams (it holds the lease) and is read slowly; three frames in, SIGKILL.
        using var stream = dying.Messages(tenant.ApiKey).StreamMessages(new StreamMessagesRequest { MailboxId = id });
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await stream.ResponseStream.MoveNext(CancellationToken.None));
        }

        // The lease is the dying replica's (its token names its pid): it renews it every third of LeaseTime.
        var leaseKey = StoreKeys.Pop3Lease(tenant.Name, id);
        var redis = TestRedis.Connection.GetDatabase();
        Assert.Contains($":{dying.ProcessId}:", (string?)await redis.StringGetAsync(leaseKey), StringComparison.Ordinal);

        var clock = Stopwatch.StartNew();
        dying.Kill();
        await dying.DisposeAsync();
        var left = await redis.KeyTimeToLiveAsync(leaseKey);
        var expired = clock.Elapsed + (left ?? TimeSpan.Zero); // when the dead replica's lease runs out, on this clock

        // The bound is on the lease: B takes it once the dead replica's lease (at most LeaseTime) runs out — B polls at most
        // every 250 ms; up to 5 s more is room for a loaded machine (1.5 s seen at load average 70), still far inside B's
        // LeaseWait (30 s), which is what a lease that never ran out would have ended in. It is measured to the moment B
        // holds the lease, not to B's answer: what B's POP3 session then costs (TLS, login, LIST of 100) depends on the
        // machine's load, not on the takeover.
        var listing = survivor.Messages(tenant.ApiKey).ListMessagesAsync(new ListMessagesRequest { MailboxId = id }, deadline: DateTime.UtcNow.AddSeconds(90)).ResponseAsync;
        await Eventually.WaitAsync(
            async () => ((string?)await redis.StringGetAsync(leaseKey))?.Contains($":{survivor.ProcessId}:", StringComparison.Ordinal) == true || listing.IsCompleted,
            TimeSpan.FromSeconds(60),
            "replica B to hold the mailbox's lease");
        var leaseTaken = clock.Elapsed;
        var listed = await listing;
        var takeover = clock.Elapsed;
        Assert.Equal(100, listed.TotalCount);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"FIGURE takeover after replica SIGKILL mid-stream: {takeover.TotalSeconds:F1} s (LeaseTime 10 s, LeaseWait 30 s)"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"FIGURE lease taken by replica B {leaseTaken.TotalSeconds:F1} s after the kill ({left?.TotalSeconds:F1} s of the dead replica's lease were left)"));
        Assert.True(left is null || left <= LeaseTime, $"the dead replica's lease had {left} left");
        Assert.True(leaseTaken < expired + TimeSpan.FromSeconds(5), $"replica B took the lease {leaseTaken} after the kill, {leaseTaken - expired} after the dead replica's lease ran out");
    }
}
