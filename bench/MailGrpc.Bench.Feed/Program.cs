// End-to-end feed benchmark (bench/feed-e2e.sh, #13 "new message to event at a subscriber and at a webhook: p50 / p99,
// target <= interval + 1 s"): against a running server with the sync engine on, the rig's Dovecot and Redis.
//  1. registers N password mailboxes of the bench users, a webhook endpoint pointing at a Kestrel receiver on 127.0.0.1
//     (signatures verified) and a SubscribeEvents stream; waits until every mailbox has had its first poll (its baseline).
//  2. delivers MESSAGES new messages into random mailboxes at random moments over DURATION seconds, the way an MTA
//     delivers into a Maildir (written under tmp/, renamed into new/); the time of the rename is the time of the append.
//  3. for each message, the time from its append to the message.arrived event (found by its Message-ID) at the
//     subscriber and at the webhook receiver, all on this process's one clock: p50 / p99 / max against interval + 1 s.
// Usage: MailGrpc.Bench.Feed <grpc address> <api key> <metrics url> <user prefix> <N> <password> <pop3s port>
//        <mail root> <mail uid> <mail gid> <messages> <duration s> <interval s> <receiver port>
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MailGrpc.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

var address = args[0];
var apiKey = args[1];
var metricsUrl = args[2];
var prefix = args[3];
var count = int.Parse(args[4], CultureInfo.InvariantCulture);
var password = args[5];
var pop3sPort = int.Parse(args[6], CultureInfo.InvariantCulture);
var mailRoot = args[7];
var mailUid = int.Parse(args[8], CultureInfo.InvariantCulture);
var mailGid = int.Parse(args[9], CultureInfo.InvariantCulture);
var messages = int.Parse(args[10], CultureInfo.InvariantCulture);
var duration = TimeSpan.FromSeconds(double.Parse(args[11], CultureInfo.InvariantCulture));
var interval = TimeSpan.FromSeconds(double.Parse(args[12], CultureInfo.InvariantCulture));
var receiverPort = int.Parse(args[13], CultureInfo.InvariantCulture);
var run = prefix;

using var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true } });
var invoker = channel.Intercept(m =>
{
    m.Add("x-api-key", apiKey);
    return m;
});
var mailboxes = new MailboxService.MailboxServiceClient(invoker);
var authorization = new AuthorizationService.AuthorizationServiceClient(invoker);
var webhooks = new WebhookService.WebhookServiceClient(invoker);
var feed = new EventService.EventServiceClient(invoker);
var clock = Stopwatch.StartNew();
using var http = new HttpClient();

// The receiver and the endpoint first, the subscriber next: both see every event from the first poll on.
var receiver = new Receiver(receiverPort, clock);
await receiver.StartAsync();
var created = await webhooks.CreateWebhookAsync(new CreateWebhookRequest
{
    Webhook = new Webhook { Url = $"http://127.0.0.1:{receiverPort}/hook", Enabled = true, EventTypes = { "message.arrived" } },
});
receiver.Secret = Convert.FromBase64String(created.Secret["whsec_".Length..]);

var subscribedAt = new ConcurrentDictionary<string, double>();
var eventIds = new ConcurrentDictionary<string, string>(); // Message-ID → event id (its milliseconds: when the engine appended it)
using var stop = new CancellationTokenSource();
using var call = feed.SubscribeEvents(new SubscribeEventsRequest { ConsumerGroup = "bench", Consumer = "bench-0", EventTypes = { "message.arrived" } }, cancellationToken: stop.Token);
await call.ResponseHeadersAsync;
var subscriber = Task.Run(async () =>
{
    var batch = new List<string>();
    try
    {
        await foreach (var response in call.ResponseStream.ReadAllAsync(stop.Token))
        {
            var at = clock.Elapsed.TotalMilliseconds;
            if (response.Event.DataCase == Event.DataOneofCase.MessageArrived)
            {
                var key = Receiver.Normalize(response.Event.MessageArrived.Envelope.MessageId);
                subscribedAt.TryAdd(key, at);
                eventIds.TryAdd(key, response.Event.Id);
            }

            batch.Add(response.Event.Id);
            if (batch.Count >= 20 || subscribedAt.Count >= messages)
            {
                await feed.AcknowledgeEventsAsync(new AcknowledgeEventsRequest { ConsumerGroup = "bench", EventIds = { batch } });
                batch.Clear();
            }
        }
    }
    catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
    {
    }
    catch (OperationCanceledException)
    {
    }
});

// Register the mailboxes (16 at a time); new mailboxes are due at once.
var registering = Stopwatch.StartNew();
await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
{
    var id = $"{prefix}-{i}";
    await mailboxes.CreateMailboxAsync(
        new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox
            {
                Username = $"{prefix}-{i}@bench.test",
                Server = new ServerSettings { Host = "127.0.0.1", Port = pop3sPort, Security = Security.ImplicitTls },
                AuthMethod = new AuthMethod { Password = new PasswordAuth() },
            },
        },
        cancellationToken: ct);
    await authorization.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password, SkipVerification = true }, cancellationToken: ct);
});
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"registered {count} mailboxes in {registering.Elapsed.TotalSeconds:F1} s"));

// Baseline: a new mailbox is due at once and its first poll records what is there without events, so appends start
// once every mailbox has had its first poll: an interval after the last registration, and as many polls since.
var baseline = Stopwatch.StartNew();
var pollsBefore = await PollsAsync();
while (baseline.Elapsed < interval || await PollsAsync() - pollsBefore < count)
{
    if (baseline.Elapsed > interval * 10 + TimeSpan.FromMinutes(2))
    {
        Console.WriteLine("the engine did not poll every mailbox in time; giving up");
        return 1;
    }

    await Task.Delay(500); // polling the server's metrics, bounded above
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"every mailbox polled (baseline) after {baseline.Elapsed.TotalSeconds:F1} s more; delivering {messages} messages over {duration.TotalSeconds:F0} s"));

// Appends at random moments into random mailboxes.
var random = new Random(20261207);
var plan = Enumerable.Range(0, messages)
    .Select(k => (At: duration * random.NextDouble(), Mailbox: random.Next(count), Key: $"e2e-{run}-{k}@bench.test"))
    .OrderBy(p => p.At)
    .ToArray();
var appendedAt = new Dictionary<string, double>();
var appendedWall = new Dictionary<string, long>(); // Unix ms, the clock Redis stamps stream ids with (same machine)
var loadBefore = File.ReadAllText("/proc/loadavg").Split(' ')[0];
var start = clock.Elapsed;
var sequence = 0;
foreach (var (at, mailbox, key) in plan)
{
    var wait = start + at - clock.Elapsed;
    if (wait > TimeSpan.Zero)
    {
        await Task.Delay(wait); // pacing the load generator
    }

    var user = $"{prefix}-{mailbox}@bench.test";
    var maildir = Path.Combine(mailRoot, user, "Maildir");
    var name = string.Create(CultureInfo.InvariantCulture, $"{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}.E{++sequence}P{Environment.ProcessId}.bench");
    var temporary = Path.Combine(maildir, "tmp", name);
    var body = $"Message-ID: <{key}>\r\nSubject: e2e {sequence}\r\nFrom: Bench <bench@bench.test>\r\nTo: {user}\r\nDate: {DateTimeOffset.UtcNow:r}\r\n\r\nHello.\r\n";
    await File.WriteAllTextAsync(temporary, body);
    if (Native.chown(temporary, mailUid, mailGid) != 0)
    {
        throw new IOException($"chown {temporary}: errno {Marshal.GetLastPInvokeError()}");
    }

    File.Move(temporary, Path.Combine(maildir, "new", name));
    appendedAt[key] = clock.Elapsed.TotalMilliseconds;
    appendedWall[key] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"appended {messages} messages into {plan.Select(p => p.Mailbox).Distinct().Count()} mailboxes in {(clock.Elapsed - start).TotalSeconds:F1} s"));

// Every event seen at both ends, or the limit.
var limit = clock.Elapsed + interval * 3 + TimeSpan.FromSeconds(30);
while (clock.Elapsed < limit && !appendedAt.Keys.All(k => subscribedAt.ContainsKey(k) && receiver.AcceptedAt.ContainsKey(k)))
{
    await Task.Delay(100); // polling a condition, bounded by the limit
}

var loadAfter = File.ReadAllText("/proc/loadavg").Split(' ')[0];
var target = (interval + TimeSpan.FromSeconds(1)).TotalMilliseconds;
var toSubscriber = appendedAt.Where(a => subscribedAt.ContainsKey(a.Key)).Select(a => subscribedAt[a.Key] - a.Value).ToArray();
var toWebhook = appendedAt.Where(a => receiver.AcceptedAt.ContainsKey(a.Key)).Select(a => receiver.AcceptedAt[a.Key] - a.Value).ToArray();
var pollLag = await PollLagAsync();
// The split: message append → event appended by the engine (next poll + the poll), then event → each end.
var toStream = appendedWall.Where(a => eventIds.ContainsKey(a.Key)).Select(a => (double)(StreamMs(eventIds[a.Key]) - a.Value)).ToArray();
var offset = clock.Elapsed.TotalMilliseconds - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(); // wall ms → this clock
var streamToSubscriber = eventIds.Where(e => subscribedAt.ContainsKey(e.Key)).Select(e => subscribedAt[e.Key] - (StreamMs(e.Value) + offset)).ToArray();
var streamToWebhook = eventIds.Where(e => receiver.AcceptedAt.ContainsKey(e.Key)).Select(e => receiver.AcceptedAt[e.Key] - (StreamMs(e.Value) + offset)).ToArray();
Console.WriteLine();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{count} mailboxes, sync interval {interval.TotalSeconds:F0} s, {messages} messages over {duration.TotalSeconds:F0} s; load average {loadBefore} -> {loadAfter} on {Environment.ProcessorCount} cores"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"target: p99 <= interval + 1 s = {target / 1000:F0} s"));
Console.WriteLine();
Console.WriteLine("| append → event at | seen | p50 | p99 | max | within interval + 1 s |");
Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
Console.WriteLine(Row("SubscribeEvents subscriber", toSubscriber));
Console.WriteLine(Row("webhook receiver (2xx)", toWebhook));
Console.WriteLine();
Console.WriteLine("split (wall clock, same machine): | part | n | p50 | p99 | max |");
Console.WriteLine(Part("message append → event in the stream (wait for the next poll + the poll)", toStream));
Console.WriteLine(Part("event in the stream → subscriber", streamToSubscriber));
Console.WriteLine(Part("event in the stream → webhook receiver", streamToWebhook));
Console.WriteLine();
Console.WriteLine($"server poll lag (its histogram, bucket bound): {pollLag}; webhook signatures verified {receiver.Verified}/{receiver.Requests}");

await stop.CancelAsync();
await subscriber;
await webhooks.DeleteWebhookAsync(new DeleteWebhookRequest { WebhookId = created.Webhook.WebhookId });
await receiver.StopAsync();
return toSubscriber.Length == messages && toWebhook.Length == messages ? 0 : 1;

string Row(string what, double[] values)
{
    var sorted = values.Order().ToArray();
    if (sorted.Length == 0)
    {
        return $"| {what} | 0/{messages} | n/a | n/a | n/a | n/a |";
    }

    double P(double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)] / 1000;
    var within = sorted.Count(v => v <= target);
    return string.Create(CultureInfo.InvariantCulture, $"| {what} | {sorted.Length}/{messages} | {P(0.50):F2} s | {P(0.99):F2} s | {sorted[^1] / 1000:F2} s | {within * 100.0 / messages:F1} % |");
}

static long StreamMs(string id) => long.Parse(id[..id.IndexOf('-', StringComparison.Ordinal)], CultureInfo.InvariantCulture);

static string Part(string what, double[] values)
{
    var sorted = values.Order().ToArray();
    if (sorted.Length == 0) return $"| {what} | 0 | n/a | n/a | n/a |";
    double P(double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)] / 1000;
    return string.Create(CultureInfo.InvariantCulture, $"| {what} | {sorted.Length} | {P(0.50):F2} s | {P(0.99):F2} s | {sorted[^1] / 1000:F2} s |");
}

async Task<double> PollsAsync()
{
    var text = await http.GetStringAsync(metricsUrl);
    return Regex.Matches(text, @"^mailgrpc_sync_polls_total\{[^}]*\} (?<v>\S+)", RegexOptions.Multiline).Sum(m => double.Parse(m.Groups["v"].Value, CultureInfo.InvariantCulture));
}

async Task<string> PollLagAsync()
{
    var text = await http.GetStringAsync(metricsUrl);
    var buckets = Regex.Matches(text, @"^mailgrpc_sync_poll_lag_seconds_bucket\{[^}]*le=""(?<le>[^""]+)""[^}]*\} (?<v>\S+)", RegexOptions.Multiline)
        .GroupBy(m => m.Groups["le"].Value)
        .Select(g => (Le: g.Key, Count: g.Sum(m => double.Parse(m.Groups["v"].Value, CultureInfo.InvariantCulture))))
        .OrderBy(b => b.Le == "+Inf" ? double.MaxValue : double.Parse(b.Le, CultureInfo.InvariantCulture))
        .ToArray();
    if (buckets.Length == 0 || buckets[^1].Count <= 0) return "n/a";
    string Q(double q) => buckets.First(b => b.Count >= q * buckets[^1].Count).Le;
    return $"p50 <= {Q(0.5)} s, p99 <= {Q(0.99)} s";
}

/// <summary>A Kestrel receiver on 127.0.0.1 that verifies each request (Standard Webhooks v1) and records when each message's event was accepted.</summary>
internal sealed class Receiver(int port, Stopwatch clock)
{
    private WebApplication? _app;
    private int _requests;
    private int _verified;

    public byte[] Secret { get; set; } = [];

    /// <summary>Message-ID → when its message.arrived delivery was accepted.</summary>
    public ConcurrentDictionary<string, double> AcceptedAt { get; } = new();

    public int Requests => _requests;

    public int Verified => _verified;

    public static string Normalize(string messageId) => messageId.Trim().Trim('<', '>');

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, port));
        _app = builder.Build();
        _app.MapPost("/hook", async context =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            var at = clock.Elapsed.TotalMilliseconds;
            var id = context.Request.Headers["webhook-id"].ToString();
            var timestamp = context.Request.Headers["webhook-timestamp"].ToString();
            var expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(Secret, (byte[])[.. Encoding.UTF8.GetBytes($"{id}.{timestamp}."), .. buffer.ToArray()]));
            Interlocked.Increment(ref _requests);
            if (!context.Request.Headers["webhook-signature"].ToString().Split(' ').Contains(expected))
            {
                context.Response.StatusCode = 400;
                return;
            }

            Interlocked.Increment(ref _verified);
            using var body = JsonDocument.Parse(buffer.ToArray());
            if (body.RootElement.GetProperty("data").TryGetProperty("envelope", out var envelope) && envelope.TryGetProperty("message_id", out var messageId))
            {
                AcceptedAt.TryAdd(Normalize(messageId.GetString() ?? string.Empty), at);
            }

            context.Response.StatusCode = 204;
        });
        await _app.StartAsync();
    }

    public async Task StopAsync()
    {
        if (_app is null) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
        _app = null;
    }
}

internal static partial class Native
{
    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int chown(string path, int owner, int group);
}
