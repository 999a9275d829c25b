using System.Diagnostics;
using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Sync;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Sync;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace MailGrpc.Tests.Watch;

/// <summary>
/// WatchMessages on the engine: three server instances (separate DI containers, one Redis, one schedule, sync off) each
/// watch the same mailbox. The deployment polls it once per interval, not once per replica (counted by the engines' poll
/// counters and by Dovecot's own log of logins), and every watcher still gets every new message exactly once.
/// </summary>
[Collection("pop3")]
public sealed class WatchDeploymentTests(Pop3Rig rig, ITestOutputHelper output)
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Three_replicas_watching_one_mailbox_poll_it_once_per_interval_and_each_watcher_gets_each_message_once()
    {
        var tenant = TestTenant.Create("watchdep");
        var extra = new Dictionary<string, string?>
        {
            ["MailGrpc:Sync:Schedule"] = SyncRig.NewSchedule(),
            ["MailGrpc:Sync:Shards"] = "4",
            ["MailGrpc:Sync:IdleWait"] = "00:00:00.100",
            ["MailGrpc:Pop3:PollInterval"] = "00:00:01",
        };
        await using var a = MailGrpcTestHost.ForPop3(rig, extra, tenant);
        await using var b = MailGrpcTestHost.ForPop3(rig, extra, tenant);
        await using var c = MailGrpcTestHost.ForPop3(rig, extra, tenant);
        MailGrpcTestHost[] hosts = [a, b, c];

        var user = Pop3Rig.NewUser("watchdep");
        var password = rig.AddPasswordUser(user);
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(0, 2_000, "Already there")]);
        var id = await a.CreateActiveMailboxAsync(user, Security.ImplicitTls, rig.Pop3sPort);
        foreach (var host in hosts)
        {
            // Any replica may poll or fetch: each has the credential, as each would from the shared store.
            host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var watchA = a.Messages(tenant.ApiKey).WatchMessages(new WatchMessagesRequest { MailboxId = id, Consumer = "wa" }, cancellationToken: cts.Token);
        using var watchB = b.Messages(tenant.ApiKey).WatchMessages(new WatchMessagesRequest { MailboxId = id, View = MessageView.Headers }, cancellationToken: cts.Token);
        using var watchC = c.Messages(tenant.ApiKey).WatchMessages(new WatchMessagesRequest { MailboxId = id, Consumer = "wc", IncludeExisting = true }, cancellationToken: cts.Token);
        await watchA.ResponseHeadersAsync;
        await watchB.ResponseHeadersAsync;
        await watchC.ResponseHeadersAsync;
        var existing = Assert.Single(await StreamedMessage.ReadAsync(watchC.ResponseStream, r => r.Frame, stopAfter: 1, cts.Token));
        Assert.Equal("Already there", existing.Summary.Envelope.Subject);

        var metrics = hosts.Select(h => h.Services.GetRequiredService<SyncMetrics>()).ToArray();
        long Polls() => metrics.Sum(m => m.PollsStarted);
        long Published() => metrics.Sum(m => m.WatchPolls);
        long Sessions() => metrics.Sum(m => m.WatchSessions);

        // The engine polls the watched mailbox (sync is off on every replica).
        await Eventually.WaitAsync(() => Published() >= 2, TimeSpan.FromSeconds(60), "the engine publishing the watched mailbox's listing");

        // Idle: count the polls of the deployment over at least eight of them. Each poll makes the mailbox due an interval
        // after it started at the earliest, so a window of W holds at most W / interval + 1 poll starts (slack for a poll
        // counted a little after its claim on a busy machine); a poller per replica would make about three times as many.
        var logStart = new FileInfo(rig.DovecotLog).Length;
        var polls0 = Polls();
        var sessions0 = Sessions();
        var window = Stopwatch.StartNew();
        await Eventually.WaitAsync(() => Polls() >= polls0 + 8, TimeSpan.FromSeconds(90), "eight more polls of the deployment");
        var polls = Polls() - polls0;
        var elapsed = window.Elapsed;
        var sessions = Sessions() - sessions0;
        var logEnd = new FileInfo(rig.DovecotLog).Length;
        var bound = (elapsed / Interval) + 5;
        Assert.True(polls <= bound, $"{polls} polls in {elapsed.TotalSeconds:0.0} s at a {Interval.TotalSeconds} s interval (at most {bound:0.0} for one poller in the deployment)");
        Assert.Equal(0, sessions); // nothing new: no replica opened a session of its own

        // Dovecot's own count: logins of the user in that window, at most one per interval too.
        var logins = ReadLog(logStart, logEnd).Count(l => l.Contains("Login: user=<" + user + ">", StringComparison.Ordinal));
        Assert.True(logins <= bound, $"{logins} POP3 logins in {elapsed.TotalSeconds:0.0} s (at most {bound:0.0})");
        Assert.True(polls >= 8 && logins >= 1, $"polls {polls}, logins {logins}");

        // New mail reaches every watcher once: each gets the first new message, then the second (a repeat would come between).
        for (var n = 1; n <= 2; n++)
        {
            var dropped = Pop3Rig.MakeMessage(n, 150_000, "Fresh mail " + n);
            await rig.SeedAsync(user, [dropped]);
            foreach (var (watch, headersOnly) in new[] { (watchA, false), (watchB, true), (watchC, false) })
            {
                var got = Assert.Single(await StreamedMessage.ReadAsync(watch.ResponseStream, r => r.Frame, stopAfter: 1, cts.Token));
                Assert.Equal("Fresh mail " + n, got.Summary.Envelope.Subject);
                if (headersOnly)
                {
                    Assert.Equal(0, got.Data.Length);
                }
                else
                {
                    Assert.Equal(Pop3Rig.Sha256(dropped), got.End!.Sha256);
                    Assert.Equal(got.ActualSha256, got.End.Sha256);
                }
            }
        }

        // Each replica fetched for its own watcher (the engine's poll only lists).
        Assert.All(metrics, m => Assert.True(m.WatchSessions >= 1, $"a replica opened {m.WatchSessions} sessions"));
        output.WriteLine($"idle: {polls} polls, {logins} logins in {elapsed.TotalSeconds:0.0} s (bound {bound:0.0}); sessions per replica: {string.Join(", ", metrics.Select(m => m.WatchSessions))}");

        // The mailbox stops being ACTIVE: every replica's watch ends with that error.
        await a.SetStateAsync(id, MailGrpc.Server.Mailboxes.MailboxState.Disabled);
        foreach (var watch in new[] { watchA, watchB, watchC })
        {
            var ended = await Assert.ThrowsAsync<RpcException>(() => StreamedMessage.ReadAsync(watch.ResponseStream, r => r.Frame, stopAfter: 1, cts.Token));
            Assert.Equal(StatusCode.FailedPrecondition, ended.StatusCode);
        }

        await cts.CancelAsync();
    }

    [Fact]
    public async Task A_poll_refused_for_good_ends_the_watches_on_every_replica()
    {
        var tenant = TestTenant.Create("watchbad");
        var extra = new Dictionary<string, string?>
        {
            ["MailGrpc:Sync:Schedule"] = SyncRig.NewSchedule(),
            ["MailGrpc:Sync:Shards"] = "4",
            ["MailGrpc:Sync:IdleWait"] = "00:00:00.100",
        };
        await using var a = MailGrpcTestHost.ForPop3(rig, extra, tenant);
        await using var b = MailGrpcTestHost.ForPop3(rig, extra, tenant);
        var user = Pop3Rig.NewUser("watchbad");
        var password = rig.AddPasswordUser(user);
        var id = await a.CreateActiveMailboxAsync(user, Security.ImplicitTls, rig.Pop3sPort);
        a.Credentials.Current[id] = b.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);

        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var watchA = a.Messages(tenant.ApiKey).WatchMessages(new WatchMessagesRequest { MailboxId = id }, cancellationToken: cts.Token);
        using var watchB = b.Messages(tenant.ApiKey).WatchMessages(new WatchMessagesRequest { MailboxId = id }, cancellationToken: cts.Token);
        await watchA.ResponseHeadersAsync;
        await watchB.ResponseHeadersAsync;

        // The password stops working (as if changed at the provider): the mailbox stays ACTIVE in the registry, so only the
        // engine's failed poll can tell the replicas; each lists the mailbox itself, is refused too, and ends its watch.
        a.Credentials.Current[id] = b.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, "not-" + password, null);
        foreach (var watch in new[] { watchA, watchB })
        {
            var ended = await Assert.ThrowsAsync<RpcException>(() => StreamedMessage.ReadAsync(watch.ResponseStream, r => r.Frame, stopAfter: 1, cts.Token));
            Assert.Equal(StatusCode.FailedPrecondition, ended.StatusCode);
        }

        await cts.CancelAsync();
    }

    private string[] ReadLog(long from, long to)
    {
        using var stream = new FileStream(rig.DovecotLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(from, SeekOrigin.Begin);
        var buffer = new byte[to - from];
        stream.ReadExactly(buffer);
        return System.Text.Encoding.UTF8.GetString(buffer).Split('\n');
    }
}
