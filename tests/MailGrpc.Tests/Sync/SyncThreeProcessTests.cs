using System.Globalization;
using System.Text.RegularExpressions;
using MailGrpc.Server.Events;
using MailGrpc.Server.Sync;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace MailGrpc.Tests.Sync;

/// <summary>
/// Issue #13, "exactly-one poller per mailbox across three server processes": three real server processes (the built
/// server, as deployed) with the sync engine on share one schedule on the rig's Redis and poll mailboxes of the rig's
/// Dovecot. Each process polls; Dovecot never sees two sessions of one mailbox at once; every message gets exactly one
/// <c>message.arrived</c>. Then one process is SIGKILLed inside a poll (holding a mailbox's claim and POP3 lease): the
/// other two poll every mailbox again, that one once its claim and lease lapse, and each message delivered after the kill
/// still gets exactly one arrival.
/// </summary>
[Collection("sync")]
public sealed partial class SyncThreeProcessTests(Pop3Rig rig, ITestOutputHelper output)
{
    private const int Mailboxes = 6;

    [Fact]
    public async Task Three_processes_poll_each_mailbox_one_at_a_time_append_each_arrival_once_and_take_over_from_a_killed_one()
    {
        var tenant = TestTenant.Create("sync3p");
        var schedule = SyncRig.NewSchedule();
        var settings = rig.ServerProcessSettings(tenant);
        foreach (var (key, value) in SyncRig.Settings(rig, tenant, schedule).Where(s => s.Key.StartsWith("MailGrpc:Sync:", StringComparison.Ordinal)))
        {
            settings[key] = value;
        }

        var redis = TestRedis.Connection;
        var syncStates = new RedisSyncStateStore(redis);
        Task<IReadOnlyList<FeedEvent>> Feed() => SyncRig.ReadFeedAsync(redis, tenant.Name);
        var logStart = new FileInfo(rig.DovecotLog).Length;
        var servers = new List<ServerProcess>();
        try
        {
            // Started one after another: a failed start leaves nothing running that the finally block does not stop.
            for (var i = 0; i < 3; i++)
            {
                servers.Add(await ServerProcess.StartAsync(settings, TimeSpan.FromSeconds(120)));
            }

            // Mailboxes created through all three processes (any replica serves any call).
            var boxes = new List<(string Id, string User)>();
            for (var i = 0; i < Mailboxes; i++)
            {
                boxes.Add(await CreateActiveMailboxAsync(servers[i % 3], tenant, "sync3p"));
            }

            // Every mailbox is polled repeatedly and every process takes part.
            await Eventually.WaitAsync(
                async () => (await Task.Run(() => ReadLog(logStart)) is var lines && boxes.All(b => DovecotSessionLog.Logins(lines, b.User) >= 4))
                    && (await Task.WhenAll(servers.Select(PollsAsync))).All(p => p.Ok > 0),
                TimeSpan.FromSeconds(120),
                "four logins per mailbox and polls by each of the three processes");

            // One message per mailbox while all three run: one arrival each, no duplicate.
            foreach (var (_, user) in boxes)
            {
                await rig.SeedAsync(user, [Pop3Rig.MakeMessage(1, 1500, "while three poll")]);
            }

            await Eventually.WaitAsync(async () => Arrivals(await Feed()).Length >= Mailboxes, TimeSpan.FromSeconds(60), "an arrival per mailbox");

            // The polls that appended them have stored their uids as known (events come first, then the known uids), so a
            // kill from here on cannot repeat one of them.
            await Eventually.WaitAsync(
                async () =>
                {
                    foreach (var arrival in Arrivals(await Feed()))
                    {
                        var known = (await syncStates.GetAsync(tenant.Name, arrival.MailboxId, default)).KnownUids;
                        if (known is null || !known.Contains(Uid(arrival)))
                        {
                            return false;
                        }
                    }

                    return true;
                },
                TimeSpan.FromSeconds(60),
                "the arrivals' uids stored as known");
            var beforeKill = Arrivals(await Feed());
            Assert.Equal(Mailboxes, beforeKill.Length);
            Assert.Equal(boxes.Select(b => b.Id).Order(StringComparer.Ordinal), beforeKill.Select(e => e.MailboxId).Order(StringComparer.Ordinal));

            var pollsBefore = await Task.WhenAll(servers.Select(PollsAsync));
            output.WriteLine("polls by process before the kill (ok/busy/failed/timeout): " + string.Join(", ", pollsBefore.Select(p => $"{p.Ok}/{p.Busy}/{p.Failed}/{p.Timeout}")));

            // SIGKILL one process (by its PID), as a crash would, while it is inside a poll: it holds a mailbox's claim and
            // POP3 lease (the lease's value names the holder's PID). It is stopped (SIGSTOP) the moment one of its leases
            // is seen, the lease checked again (a stopped process releases nothing), then killed; else it goes on and the
            // next lease is awaited.
            var killed = servers[2];
            var held = await Eventually.ValueAsync(
                async () =>
                {
                    var candidate = await HeldByAsync(redis, tenant, boxes, killed.ProcessId);
                    if (candidate is null)
                    {
                        return null;
                    }

                    await SignalAsync(killed.ProcessId, "STOP");
                    if (await HeldByAsync(redis, tenant, [(candidate.Id, candidate.User)], killed.ProcessId) is { } stillHeld)
                    {
                        return stillHeld;
                    }

                    await SignalAsync(killed.ProcessId, "CONT");
                    return null;
                },
                TimeSpan.FromSeconds(90),
                "the process to kill to hold a mailbox's POP3 lease");
            var logAtKill = new FileInfo(rig.DovecotLog).Length;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            killed.Kill();
            Assert.True(killed.HasExited);
            var survivors = servers.Take(2).ToArray();
            foreach (var (_, user) in boxes)
            {
                await rig.SeedAsync(user, [Pop3Rig.MakeMessage(2, 1500, "after the kill")]);
            }

            // Documented bound (docs/sync.md, "Takeover bound"): a dead replica's claims lapse after ClaimTimeout, plus
            // Pop3:LeaseTime (10 s) as it died inside a session; another replica polls within IdleWait after that; plus one
            // interval for the poll itself. The waits are generous (busy cores) and the measured times printed.
            var bound = SyncRig.ClaimTimeout + TimeSpan.FromSeconds(10) + SyncRig.Interval + TimeSpan.FromSeconds(1);
            await Eventually.WaitAsync(async () => Arrivals(await Feed()).Count(e => e.MailboxId == held.Id) >= 2, bound * 4, "the arrival of the killed process's mailbox");
            var heldTookOver = clock.Elapsed;
            await Eventually.WaitAsync(async () => Arrivals(await Feed()).Length >= 2 * Mailboxes, bound * 4, "an arrival per mailbox after the kill");
            var tookOver = clock.Elapsed;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"FIGURE three processes, one SIGKILLed inside a poll: its mailbox's new message arrived {heldTookOver.TotalSeconds:F1} s after the kill, every mailbox's {tookOver.TotalSeconds:F1} s (bound {bound.TotalSeconds:F0} s: ClaimTimeout {SyncRig.ClaimTimeout.TotalSeconds:F0} s + LeaseTime 10 s + interval + IdleWait)"));

            // Every mailbox was polled (logged in) again after the kill, by the survivors, whose poll counts went on.
            var afterKill = ReadLog(logAtKill);
            Assert.All(boxes, b => Assert.True(DovecotSessionLog.Logins(afterKill, b.User) >= 1, $"{b.User} not polled after the kill"));
            var pollsAfter = await Task.WhenAll(survivors.Select(PollsAsync));
            Assert.True(pollsAfter[0].Ok + pollsAfter[1].Ok >= pollsBefore[0].Ok + pollsBefore[1].Ok + Mailboxes, "the survivors polled on");

            // Exactly one arrival per message over the whole run: 2 per mailbox, (mailbox, uid) unique.
            var feed = await Feed();
            var arrivals = Arrivals(feed);
            Assert.Equal(2 * Mailboxes, arrivals.Length);
            Assert.Equal(arrivals.Length, arrivals.Select(e => (e.MailboxId, Uid(e))).Distinct().Count());
            Assert.All(boxes, b => Assert.Equal(2, arrivals.Count(e => e.MailboxId == b.Id)));
            Assert.DoesNotContain(feed, e => e.Type == MailEventTypes.MailboxSyncFailing);

            // Never two POP3 sessions of one mailbox at once, across the three processes, over the whole run.
            var lines = ReadLog(logStart);
            Assert.DoesNotContain(lines, l => l.Contains("IN-USE", StringComparison.OrdinalIgnoreCase));
            foreach (var box in boxes)
            {
                DovecotSessionLog.AssertSessionsNeverOverlap(lines, box.User);
            }
        }
        finally
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }

            foreach (var shard in Enumerable.Range(0, 4))
            {
                await redis.GetDatabase().KeyDeleteAsync(SyncKeys.Due(schedule, shard));
            }

            await redis.GetDatabase().KeyDeleteAsync(EventLogKeys.Stream(tenant.Name));
        }
    }

    private async Task<(string Id, string User)> CreateActiveMailboxAsync(ServerProcess server, TestTenant tenant, string prefix)
    {
        var user = Pop3Rig.NewUser(prefix);
        var password = rig.AddPasswordUser(user);
        var id = "m-" + Guid.NewGuid().ToString("N")[..12];
        await server.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox
            {
                Username = user,
                Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls },
                AuthMethod = new AuthMethod { Password = new PasswordAuth() },
            },
        });
        await server.Authorization(tenant.ApiKey).SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password });
        return (id, user);
    }

    private sealed record HeldMailbox(string Id, string User);

    /// <summary>A mailbox whose POP3 lease is held by the process <paramref name="pid"/> (the lease value is host:pid:random), or null.</summary>
    private static async Task<HeldMailbox?> HeldByAsync(IConnectionMultiplexer redis, TestTenant tenant, IEnumerable<(string Id, string User)> boxes, int pid)
    {
        foreach (var (id, user) in boxes)
        {
            var value = (string?)await redis.GetDatabase().StringGetAsync(MailGrpc.Server.Storage.StoreKeys.Pop3Lease(tenant.Name, id));
            if (value?.Split(':') is [_, var holder, _] && holder == pid.ToString(CultureInfo.InvariantCulture))
            {
                return new HeldMailbox(id, user);
            }
        }

        return null;
    }

    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    private static FeedEvent[] Arrivals(IReadOnlyList<FeedEvent> feed) => feed.Where(e => e.Type == MailEventTypes.MessageArrived).ToArray();

    private static string Uid(FeedEvent arrival) => arrival.Data.GetProperty("uid").GetString()!;

    /// <summary>The process's own count of sync polls by outcome, from its Prometheus endpoint.</summary>
    private static async Task<(long Ok, long Busy, long Failed, long Timeout)> PollsAsync(ServerProcess server)
    {
        using var http = new HttpClient();
        var scrape = await http.GetStringAsync(new Uri($"http://127.0.0.1:{server.MetricsPort}/metrics"));
        long Count(string outcome) => PollsLine().Matches(scrape)
            .Where(m => m.Groups["outcome"].Value == outcome)
            .Sum(m => (long)double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));
        return (Count("ok"), Count("busy"), Count("failed"), Count("timeout"));
    }

    private string[] ReadLog(long offset)
    {
        using var reader = new StreamReader(new FileStream(rig.DovecotLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        reader.BaseStream.Seek(offset, SeekOrigin.Begin);
        return reader.ReadToEnd().Split('\n');
    }

    [GeneratedRegex(@"^mailgrpc_sync_polls_total\{[^}]*outcome=""(?<outcome>[a-z]+)""[^}]*\} (?<value>[0-9.eE+]+)", RegexOptions.Multiline)]
    private static partial Regex PollsLine();
}
