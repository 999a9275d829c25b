using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MailGrpc.V1;

// Load generator for the mailbox registry: N concurrent callers against a running server (see bench/registry.sh).
// Usage: MailGrpc.Bench.Registry <address> <api-key> [callers=16] [seconds=10]
var address = args.Length > 0 ? args[0] : "http://127.0.0.1:5080";
var apiKey = args.Length > 1 ? args[1] : throw new ArgumentException("usage: <address> <api-key> [callers] [seconds]");
var callers = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16;
var seconds = args.Length > 3 ? double.Parse(args[3], CultureInfo.InvariantCulture) : 10;

using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
{
    // One HTTP/2 connection carries many concurrent streams; allow more than one when it fills up, as a real client would.
    HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
});
var client = new MailboxService.MailboxServiceClient(channel.Intercept(m =>
{
    m.Add("x-api-key", apiKey);
    return m;
}));

// Mailboxes to read: one per caller, so reads spread over keys as real traffic does.
var ids = new List<string>();
for (var i = 0; i < 64; i++)
{
    ids.Add((await client.CreateMailboxAsync(NewMailbox(i))).Mailbox.MailboxId);
}

// Warm both paths first: tiered JIT and dynamic PGO settle only after thousands of calls.
await RunAsync("warm-up GetMailbox", TimeSpan.FromSeconds(3), async (i, n) => await client.GetMailboxAsync(new GetMailboxRequest { MailboxId = ids[(i + n) % ids.Count] }));
await RunAsync("warm-up CreateMailbox", TimeSpan.FromSeconds(3), async (i, n) => await client.CreateMailboxAsync(NewMailbox(n)));
var get = await RunAsync("GetMailbox", TimeSpan.FromSeconds(seconds), async (i, n) => await client.GetMailboxAsync(new GetMailboxRequest { MailboxId = ids[(i + n) % ids.Count] }));
var create = await RunAsync("CreateMailbox", TimeSpan.FromSeconds(seconds), async (i, n) => await client.CreateMailboxAsync(NewMailbox(n)));

Console.WriteLine();
Console.WriteLine("| call | callers | calls | calls/s | p50 ms | p99 ms | max ms |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
foreach (var r in new[] { get, create })
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Name} | {callers} | {r.Calls} | {r.Rate:F0} | {r.P50:F2} | {r.P99:F2} | {r.Max:F2} |"));
}

return 0;

async Task<Result> RunAsync(string name, TimeSpan duration, Func<int, int, Task> call)
{
    var latencies = new List<double>[callers];
    var stop = Stopwatch.StartNew();
    var tasks = Enumerable.Range(0, callers).Select(async caller =>
    {
        var mine = latencies[caller] = new List<double>(100_000);
        var n = 0;
        while (stop.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            await call(caller, n++);
            mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }).ToArray();
    await Task.WhenAll(tasks);
    var elapsed = stop.Elapsed.TotalSeconds;
    var all = latencies.SelectMany(l => l).Order().ToArray();
    var result = new Result(name, all.Length, all.Length / elapsed, Percentile(all, 0.50), Percentile(all, 0.99), all[^1]);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {result.Calls} calls in {elapsed:F1} s = {result.Rate:F0}/s, p50 {result.P50:F2} ms, p99 {result.P99:F2} ms"));
    return result;
}

static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

static CreateMailboxRequest NewMailbox(int n) => new()
{
    Mailbox = new Mailbox
    {
        Username = $"bench-{n}@example.com",
        DisplayName = "Benchmark",
        // A documentation-range address: public to the SSRF guard and needs no DNS.
        Server = new ServerSettings { Host = "203.0.113.10", Security = Security.ImplicitTls },
        AuthMethod = new AuthMethod { Password = new PasswordAuth() },
    },
};

internal sealed record Result(string Name, int Calls, double Rate, double P50, double P99, double Max);
