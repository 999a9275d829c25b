using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using Xunit.Abstractions;

namespace MailGrpc.Tests.Faults;

/// <summary>
/// Takeover: a replica SIGKILLed while it streams a mailbox (holding its POP3 lease) — how long until another replica
/// serves that mailbox. Bounded by the lease (10 s), well inside a waiting call's <c>LeaseWait</c> (30 s). Prints a
/// FIGURE line for bench/faults.sh.
/// </summary>
[Collection("pop3-alone")] // bounds a wall-clock time: runs with nothing else running
public sealed class TakeoverTests(Pop3Rig rig, ITestOutputHelper output)
{
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

        var clock = Stopwatch.StartNew();
        dying.Kill();
        await dying.DisposeAsync();

        var listed = await survivor.Messages(tenant.ApiKey).ListMessagesAsync(new ListMessagesRequest { MailboxId = id }, deadline: DateTime.UtcNow.AddSeconds(60));
        var takeover = clock.Elapsed;
        Assert.Equal(100, listed.TotalCount);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"FIGURE takeover after replica SIGKILL mid-stream: {takeover.TotalSeconds:F1} s (LeaseTime 10 s, LeaseWait 30 s)"));
        Assert.True(takeover < TimeSpan.FromSeconds(12), $"takeover took {takeover}");
    }
}
