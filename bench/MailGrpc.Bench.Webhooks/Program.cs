// Webhook and SubscribeEvents benchmark (bench/webhook.sh): against a running server process and its Redis.
//  1. latency: EVENTS events appended to the tenant stream (as the sync engine does: XADD with the RedisEventLog
//     fields) at RATE/s over MAILBOXES mailboxes; for each, the time from the append to the signed webhook's arrival
//     at a Kestrel receiver on 127.0.0.1 and to its arrival at a SubscribeEvents stream: p50 / p99 / max.
//  2. outage: the receiver stops (connections refused) for OUTAGE seconds while events keep being appended, then comes
//     back on the same port: every event must be accepted, in per-mailbox order; lost and duplicate counts reported.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MailGrpc.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

var address = args[0];
var apiKey = args[1];
var tenant = args[2];
var redisConfiguration = args[3];
var receiverPort = int.Parse(args[4], CultureInfo.InvariantCulture);
var events = int.Parse(args[5], CultureInfo.InvariantCulture);
var rate = double.Parse(args[6], CultureInfo.InvariantCulture);
var mailboxes = int.Parse(args[7], CultureInfo.InvariantCulture);
var outage = TimeSpan.FromSeconds(double.Parse(args[8], CultureInfo.InvariantCulture));
var drainLimit = TimeSpan.FromSeconds(double.Parse(args[9], CultureInfo.InvariantCulture));

using var channel = GrpcChannel.ForAddress(address);
var invoker = channel.Intercept(m => { m.Add("x-api-key", apiKey); return m; });
var webhooks = new WebhookService.WebhookServiceClient(invoker);
var feed = new EventService.EventServiceClient(invoker);
await using var redis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);
var db = redis.GetDatabase();
var stream = $"mailgrpc:{{evt:{tenant}}}:events";

var clock = Stopwatch.StartNew();
var appendedAt = new ConcurrentDictionary<string, double>();
var appendOrder = new ConcurrentQueue<(string Id, string Mailbox)>();
var receiver = new Receiver(receiverPort, clock);
await receiver.StartAsync();

var created = await webhooks.CreateWebhookAsync(new CreateWebhookRequest { Webhook = new Webhook { Url = $"http://127.0.0.1:{receiverPort}/hook", Enabled = true } });
receiver.Secret = Convert.FromBase64String(created.Secret["whsec_".Length..]);

// The subscriber: one instance of group "bench", acknowledging in batches.
var subscribedAt = new ConcurrentDictionary<string, double>();
using var stop = new CancellationTokenSource();
using var call = feed.SubscribeEvents(new SubscribeEventsRequest { ConsumerGroup = "bench", Consumer = "bench-0" }, cancellationToken: stop.Token);
await call.ResponseHeadersAsync;
var subscriber = Task.Run(async () =>
{
    var batch = new List<string>();
    try
    {
        await foreach (var response in call.ResponseStream.ReadAllAsync(stop.Token))
        {
            subscribedAt.TryAdd(response.Event.Id, clock.Elapsed.TotalMilliseconds);
            batch.Add(response.Event.Id);
            if (batch.Count >= 50)
            {
                await feed.AcknowledgeEventsAsync(new AcknowledgeEventsRequest { ConsumerGroup = "bench", EventIds = { batch } });
                batch.Clear();
            }
        }
    }
    catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled) { }
    catch (OperationCanceledException) { }
});

var uid = 0;
async Task AppendAsync(int count, TimeSpan? over = null)
{
    var interval = over is { } total ? total / Math.Max(1, count) : TimeSpan.FromSeconds(1 / rate);
    var start = clock.Elapsed;
    for (var i = 0; i < count; i++)
    {
        var due = start + interval * i;
        var wait = due - clock.Elapsed;
        if (wait > TimeSpan.Zero) await Task.Delay(wait); // pacing the load generator, not waiting for a result
        var n = Interlocked.Increment(ref uid);
        var mailbox = $"m-{n % mailboxes}";
        var data = $"{{\"mailbox_id\":\"{mailbox}\",\"uid\":\"{n}\",\"size\":{1000 + n},\"envelope\":{{\"from\":\"a@example.com\",\"to\":\"b@example.com\",\"subject\":\"n{n}\",\"date\":\"\",\"message_id\":\"{n}@example.com\"}}}}";
        var at = clock.Elapsed.TotalMilliseconds;
        var id = (await db.StreamAddAsync(stream, [new("type", "message.arrived"), new("mailbox", mailbox), new("at", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), new("data", data)])).ToString();
        appendedAt[id] = at;
        appendOrder.Enqueue((id, mailbox));
    }
}

async Task<bool> UntilAsync(Func<bool> condition, TimeSpan limit)
{
    var deadline = clock.Elapsed + limit;
    while (!condition())
    {
        if (clock.Elapsed > deadline) return false;
        await Task.Delay(20); // polling a condition, bounded by the limit
    }

    return true;
}

static string Percentiles(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    if (sorted.Length == 0) return "n/a";
    double P(double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    return string.Create(CultureInfo.InvariantCulture, $"p50 {P(0.50):F0} ms, p99 {P(0.99):F0} ms, max {sorted[^1]:F0} ms (n={sorted.Length})");
}

// Warm-up: a replica takes the new endpoint's lease within RefreshInterval; measure from when it delivers.
await AppendAsync(1);
var warmed = await UntilAsync(() => appendedAt.Keys.All(receiver.AcceptedAt.ContainsKey) && appendedAt.Keys.All(subscribedAt.ContainsKey), TimeSpan.FromSeconds(30));
Console.WriteLine($"warm-up event delivered: {warmed}");
var warmUp = appendedAt.Keys.ToHashSet();

// 1. Latency.
await AppendAsync(events);
var latencyIds = appendedAt.Keys.Where(id => !warmUp.Contains(id)).ToArray();
var allIn = await UntilAsync(() => latencyIds.All(id => receiver.AcceptedAt.ContainsKey(id) && subscribedAt.ContainsKey(id)), TimeSpan.FromSeconds(60));
Console.WriteLine($"latency phase: {events} events at {rate.ToString(CultureInfo.InvariantCulture)}/s over {mailboxes} mailboxes; all delivered: {allIn}");
Console.WriteLine("  append -> webhook accepted:   " + Percentiles(latencyIds.Where(receiver.AcceptedAt.ContainsKey).Select(id => receiver.AcceptedAt[id] - appendedAt[id])));
Console.WriteLine("  append -> SubscribeEvents:    " + Percentiles(latencyIds.Where(subscribedAt.ContainsKey).Select(id => subscribedAt[id] - appendedAt[id])));
Console.WriteLine($"  signatures verified: {receiver.Verified}/{receiver.Requests}");

// 2. Outage.
if (outage > TimeSpan.Zero)
{
    await receiver.StopAsync();
    var down = clock.Elapsed;
    var outageEvents = (int)Math.Max(mailboxes, outage.TotalSeconds * Math.Min(rate, 5));
    await AppendAsync(outageEvents, outage);
    var waitLeft = outage - (clock.Elapsed - down);
    if (waitLeft > TimeSpan.Zero) await Task.Delay(waitLeft); // the outage itself
    await receiver.StartAsync();
    var up = clock.Elapsed;
    var all = appendedAt.Keys.ToArray();
    var drained = await UntilAsync(() => all.All(receiver.AcceptedAt.ContainsKey), drainLimit);
    var drainTime = clock.Elapsed - up;
    var lost = all.Count(id => !receiver.AcceptedAt.ContainsKey(id));
    var accepted = receiver.AcceptedOrder.ToArray();
    var duplicates = accepted.Length - accepted.Distinct().Count();
    var mailboxOf = appendOrder.ToDictionary(a => a.Id, a => a.Mailbox);
    var orderKept = appendOrder.GroupBy(a => a.Mailbox).All(g =>
        g.Select(a => a.Id).SequenceEqual(accepted.Where(id => mailboxOf.TryGetValue(id, out var m) && m == g.Key).Distinct()));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"outage phase: receiver down {outage.TotalSeconds:F0} s, {outageEvents} events appended meanwhile over {mailboxes} mailboxes"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  all {all.Length} events delivered: {drained}, {drainTime.TotalSeconds:F1} s after the receiver came back; lost {lost}; duplicates {duplicates}; per-mailbox order kept: {orderKept}"));
    Console.WriteLine($"  dead letters: {(await webhooks.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = created.Webhook.WebhookId })).DeadLetters.Count}");
    Console.WriteLine($"  signatures verified: {receiver.Verified}/{receiver.Requests}");
}

await stop.CancelAsync();
await subscriber;
await webhooks.DeleteWebhookAsync(new DeleteWebhookRequest { WebhookId = created.Webhook.WebhookId });
await receiver.StopAsync();

/// <summary>A Kestrel receiver on 127.0.0.1 that verifies each request (Standard Webhooks v1) and records when each id was accepted.</summary>
internal sealed class Receiver(int port, Stopwatch clock)
{
    private WebApplication? _app;
    private int _requests;
    private int _verified;

    public byte[] Secret { get; set; } = [];

    public ConcurrentDictionary<string, double> AcceptedAt { get; } = new();

    public ConcurrentQueue<string> AcceptedOrder { get; } = new();

    public int Requests => _requests;

    public int Verified => _verified;

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
            AcceptedAt.TryAdd(id, clock.Elapsed.TotalMilliseconds);
            AcceptedOrder.Enqueue(id);
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
