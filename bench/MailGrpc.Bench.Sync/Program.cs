using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MailGrpc.V1;
using StackExchange.Redis;

// Sync engine benchmark driver (see bench/sync.sh): registers N password mailboxes of the bench users on a running server
// with the engine on, lets it sync them, and measures over a window: poll lag p50/p99 (the server's histogram), polls/s,
// CPU of the server, of Redis and of the whole machine, and Redis commands per poll (INFO commandstats).
// Usage: MailGrpc.Bench.Sync <grpc address> <api key> <metrics url> <redis> <user prefix> <N> <password> <pop3s port>
//        <warm-up s> <window s> <server pid> <redis pid> [<dovecot master pid>]
var address = args[0];
var apiKey = args[1];
var metricsUrl = args[2];
var redisConfiguration = args[3];
var prefix = args[4];
var count = int.Parse(args[5], CultureInfo.InvariantCulture);
var password = args[6];
var pop3sPort = int.Parse(args[7], CultureInfo.InvariantCulture);
var warmUp = TimeSpan.FromSeconds(double.Parse(args[8], CultureInfo.InvariantCulture));
var window = TimeSpan.FromSeconds(double.Parse(args[9], CultureInfo.InvariantCulture));
var serverPid = int.Parse(args[10], CultureInfo.InvariantCulture);
var redisPid = int.Parse(args[11], CultureInfo.InvariantCulture);
var dovecotPid = args.Length > 12 ? int.Parse(args[12], CultureInfo.InvariantCulture) : 0;

using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true } });
var invoker = channel.Intercept(m =>
{
    m.Add("x-api-key", apiKey);
    return m;
});
var mailboxes = new MailboxService.MailboxServiceClient(invoker);
var authorization = new AuthorizationService.AuthorizationServiceClient(invoker);

// Register the mailboxes (16 at a time); each is due at once, so the first interval is a burst: measured after the warm-up.
var registered = Stopwatch.StartNew();
await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
{
    var id = $"{prefix}-{i}";
    await mailboxes.CreateMailboxAsync(new CreateMailboxRequest
    {
        MailboxId = id,
        Mailbox = new Mailbox
        {
            Username = $"{prefix}-{i}@bench.test",
            Server = new ServerSettings { Host = "127.0.0.1", Port = pop3sPort, Security = Security.ImplicitTls },
            AuthMethod = new AuthMethod { Password = new PasswordAuth() },
        },
    }, cancellationToken: ct);
    await authorization.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password, SkipVerification = true }, cancellationToken: ct);
});
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"registered {count} mailboxes in {registered.Elapsed.TotalSeconds:F1} s; warm-up {warmUp.TotalSeconds:F0} s"));

await Task.Delay(warmUp);
using var http = new HttpClient();
await using var redis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration + ",allowAdmin=true");
var server = redis.GetServers()[0];

var before = await SnapshotAsync();
await Task.Delay(window);
var after = await SnapshotAsync();

var seconds = (after.At - before.At).TotalSeconds;
var polls = after.Polls - before.Polls;
var lagBuckets = after.LagBuckets.Select((b, i) => (b.Le, Count: b.Count - before.LagBuckets[i].Count)).ToArray();
var cores = Environment.ProcessorCount;
double Cpu(double ticks) => ticks / 100.0 / seconds; // USER_HZ = 100: CPU-seconds per second (1.0 = one core)
Console.WriteLine();
Console.WriteLine("| mailboxes | interval | window s | polls/s | failed | lag p50 | lag p99 | server CPU | Redis CPU | Dovecot CPU | machine CPU | Redis cmds/poll |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"| {count:N0} | 60 s | {seconds:F0} | {polls / seconds:F1} | {after.Failed - before.Failed:F0} | ≤ {Percentile(lagBuckets, 0.50)} | ≤ {Percentile(lagBuckets, 0.99)} | {Cpu(after.ServerTicks - before.ServerTicks):F2} cores | {Cpu(after.RedisTicks - before.RedisTicks):F2} cores | {Cpu(after.DovecotTicks - before.DovecotTicks):F2} cores | {(after.MachineBusy - before.MachineBusy) / (double)(after.MachineTotal - before.MachineTotal) * cores:F2} of {cores} cores | {(after.RedisCalls - before.RedisCalls) / Math.Max(1, polls):F1} |"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"backlog at the end: {after.Backlog:F0}; polls in window: {polls:F0} (expected ≈ {count * seconds / 60:F0})"));
return 0;

async Task<Snapshot> SnapshotAsync()
{
    var text = await http.GetStringAsync(metricsUrl);
    var buckets = Regex.Matches(text, @"^mailgrpc_sync_poll_lag_seconds_bucket\{[^}]*le=""(?<le>[^""]+)""[^}]*\} (?<v>\S+)", RegexOptions.Multiline)
        .GroupBy(m => m.Groups["le"].Value)
        .Select(g => (Le: g.Key, Count: g.Sum(m => double.Parse(m.Groups["v"].Value, CultureInfo.InvariantCulture))))
        .OrderBy(b => b.Le == "+Inf" ? double.MaxValue : double.Parse(b.Le, CultureInfo.InvariantCulture))
        .ToArray();
    double Sum(string pattern) => Regex.Matches(text, pattern, RegexOptions.Multiline).Sum(m => double.Parse(m.Groups["v"].Value, CultureInfo.InvariantCulture));
    var info = await server.InfoAsync("commandstats");
    var calls = info.SelectMany(g => g).Sum(kv => long.Parse(Regex.Match(kv.Value, @"calls=(\d+)").Groups[1].Value, CultureInfo.InvariantCulture));
    var cpu = File.ReadAllLines("/proc/stat")[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
    return new Snapshot(
        DateTimeOffset.UtcNow,
        buckets,
        Sum(@"^mailgrpc_sync_polls_total\{[^}]*\} (?<v>\S+)"),
        Sum(@"^mailgrpc_sync_polls_total\{[^}]*outcome=""failed""[^}]*\} (?<v>\S+)"),
        Sum(@"^mailgrpc_sync_backlog\S* (?<v>\S+)"),
        ProcessTicks(serverPid),
        ProcessTicks(redisPid),
        dovecotPid == 0 ? 0 : ProcessTreeTicks(dovecotPid),
        cpu.Sum() - cpu[3] - cpu[4],
        cpu.Sum(),
        calls);
}

static long ProcessTicks(int pid)
{
    var stat = File.ReadAllText($"/proc/{pid}/stat");
    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture); // utime + stime
}

// Dovecot's master, its children and its reaped children (per-session pop3 processes end and are counted in cutime/cstime).
static long ProcessTreeTicks(int master)
{
    long total = 0;
    foreach (var dir in Directory.EnumerateDirectories("/proc"))
    {
        if (!int.TryParse(Path.GetFileName(dir), out var pid))
        {
            continue;
        }

        string stat;
        try
        {
            stat = File.ReadAllText($"{dir}/stat");
        }
        catch (IOException)
        {
            continue;
        }

        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        if (pid == master || int.Parse(fields[1], CultureInfo.InvariantCulture) == master)
        {
            total += fields.Skip(11).Take(4).Sum(f => long.Parse(f, CultureInfo.InvariantCulture));
        }
    }

    return total;
}

// The upper bound of the bucket that holds the quantile (the histogram's resolution).
static string Percentile((string Le, double Count)[] cumulative, double q)
{
    var total = cumulative[^1].Count;
    if (total <= 0)
    {
        return "n/a";
    }

    var bucket = cumulative.First(b => b.Count >= q * total);
    return bucket.Le == "+Inf" ? "> 600 s" : bucket.Le + " s";
}

internal sealed record Snapshot(DateTimeOffset At, (string Le, double Count)[] LagBuckets, double Polls, double Failed, double Backlog, long ServerTicks, long RedisTicks, long DovecotTicks, long MachineBusy, long MachineTotal, long RedisCalls);
