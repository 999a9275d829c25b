using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using MailGrpc.Tests.Webhooks;
using MailGrpc.V1;

namespace MailGrpc.Tests.Events;

/// <summary>One SubscribeEvents call read in the background, recording each event with when it arrived; <see cref="KillAsync"/> drops it like a crashed instance.</summary>
internal sealed class Subscriber : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<(SubscribeEventsResponse Response, long At)> _received = new();
    private AsyncServerStreamingCall<SubscribeEventsResponse> _call = null!;
    private Task _pump = Task.CompletedTask;

    public IReadOnlyList<SubscribeEventsResponse> Received => _received.Select(r => r.Response).ToArray();

    public IReadOnlyList<(SubscribeEventsResponse Response, long At)> Timed => _received.ToArray();

    /// <summary>Subscribes and returns once the server sent the response headers (the group exists, reading has begun).</summary>
    public static async Task<Subscriber> StartAsync(FeedHost feed, SubscribeEventsRequest request)
    {
        var subscriber = new Subscriber();
        subscriber._call = feed.Events.SubscribeEvents(request, cancellationToken: subscriber._stop.Token);
        await subscriber._call.ResponseHeadersAsync;
        subscriber._pump = Task.Run(subscriber.PumpAsync);
        return subscriber;
    }

    private async Task PumpAsync()
    {
        try
        {
            await foreach (var response in _call.ResponseStream.ReadAllAsync(_stop.Token))
            {
                _received.Enqueue((response, Stopwatch.GetTimestamp()));
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
        {
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async Task KillAsync()
    {
        await _stop.CancelAsync();
        await _pump;
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _call.Dispose();
        _stop.Dispose();
    }
}
