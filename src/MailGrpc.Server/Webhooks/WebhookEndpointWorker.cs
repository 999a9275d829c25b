using MailGrpc.Server.Configuration;
using MailGrpc.Server.Events;
using MailGrpc.Server.Storage;
using Microsoft.Extensions.Options;
using System.Collections.Concurrent;
using System.Text;

namespace MailGrpc.Server.Webhooks;

/// <summary>
/// Delivers one endpoint while this replica holds its lease: takes over the group's pending events (a previous holder's,
/// oldest first), then reads queued redeliveries and new events, keeps per-mailbox order (<see cref="MailboxOrderedQueue{T}"/>),
/// sends at most <see cref="WebhookOptions.MaxConcurrencyPerEndpoint"/> at once, retries with full-jitter backoff and
/// dead-letters what is still failing after <see cref="WebhookOptions.MaxAge"/>. An event is acknowledged in the group
/// only once delivered or dead-lettered, so a replica that dies loses nothing: the next holder sends it again.
/// One loop owns the queue and every Redis write; only the POSTs run concurrently.
/// </summary>
internal sealed partial class WebhookEndpointWorker(
    string tenant,
    string endpointId,
    string replica,
    WebhookManager manager,
    IStateStore store,
    RedisEventLog log,
    DeadLetterStore deadLetters,
    WebhookSender sender,
    WebhookMetrics metrics,
    WebhookOptions settings,
    EventOptions eventSettings,
    TimeProvider time,
    ILogger logger) : IDisposable
{
    private readonly MailboxOrderedQueue<Item> _queue = new();
    private readonly ConcurrentQueue<(Item Item, AttemptResult Result)> _completions = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly List<Task> _attempts = [];
    private readonly Random _random = Random.Shared;
    private readonly string _group = WebhookKeys.Group(endpointId);
    private WebhookEndpoint? _endpoint;
    private Uri? _url;
    private IReadOnlyList<WebhookSecret> _secrets = [];

    private byte[] LeaseToken => Encoding.UTF8.GetBytes(replica);

    public void Dispose() => _signal.Dispose();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (!await ReloadAsync(cancellationToken)) return;
            await log.EnsureGroupAsync(tenant, _group, fromBeginning: false, cancellationToken);
            await LoopAsync(cancellationToken);
        }
        finally
        {
            // In-flight POSTs end within AttemptTimeout; what they did not confirm stays pending for the next holder.
            await Task.WhenAll(_attempts).WaitAsync(settings.AttemptTimeout + TimeSpan.FromSeconds(1), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
            try
            {
                await store.DeleteIfEqualAsync(WebhookKeys.Lease(tenant, endpointId), LeaseToken, CancellationToken.None);
            }
            catch (Exception e) when (StoreConditions.Classify(e) is not null)
            {
                // The lease runs out by itself.
            }
        }
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        var claimCursor = "0-0";
        var claiming = true;
        string? redeliveryCursor = null;
        var now = time.GetUtcNow();
        var nextRead = now;
        var nextRenew = now + settings.LeaseTime / 3;
        var nextReload = now + settings.RefreshInterval;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                now = time.GetUtcNow();
                if (now >= nextRenew)
                {
                    if (!await store.RenewIfEqualAsync(WebhookKeys.Lease(tenant, endpointId), LeaseToken, settings.LeaseTime, cancellationToken))
                    {
                        LogLeaseLost(logger, tenant, endpointId);
                        return;
                    }

                    nextRenew = now + settings.LeaseTime / 3;
                }

                if (now >= nextReload)
                {
                    if (!await ReloadAsync(cancellationToken)) return;
                    nextReload = now + settings.RefreshInterval;
                }

                while (_completions.TryPeek(out var done))
                {
                    // Dequeued only once handled: a store failure leaves it for the next pass.
                    await CompleteAsync(done.Item, done.Result, cancellationToken);
                    _completions.TryDequeue(out _);
                }

                var room = settings.MaxBufferedPerEndpoint - _queue.Count;
                if (_endpoint!.Enabled && now >= nextRead && room > 0)
                {
                    var count = Math.Min(room, eventSettings.BatchSize);
                    var got = 0;
                    if (claiming)
                    {
                        // A previous holder's pending events come before anything newer (they are older in the stream).
                        var (claimed, next) = await log.ClaimPageAsync(tenant, _group, replica, TimeSpan.Zero, claimCursor, count, cancellationToken);
                        got += await EnqueueAsync(claimed, cancellationToken);
                        claimCursor = next;
                        claiming = next != "0-0";
                    }
                    else
                    {
                        var redeliveries = await deadLetters.ReadRedeliveriesAsync(tenant, endpointId, redeliveryCursor, count, cancellationToken);
                        foreach (var redelivery in redeliveries)
                        {
                            _queue.Enqueue(redelivery.Event.Event.MailboxId, new Item(redelivery.Event, redelivery.EntryId, now));
                            redeliveryCursor = redelivery.EntryId;
                        }

                        got += redeliveries.Count;
                        var fresh = await log.ReadNewAsync(tenant, _group, replica, Math.Max(1, count - redeliveries.Count), cancellationToken);
                        got += await EnqueueAsync(fresh, cancellationToken);
                    }

                    nextRead = got == 0 ? now + eventSettings.PollInterval : now;
                }

                while (_endpoint.Enabled && _queue.InFlight < settings.MaxConcurrencyPerEndpoint && _queue.TakeReady(now) is { } item)
                {
                    StartAttempt(item, cancellationToken);
                }
            }
            catch (StackExchange.Redis.RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // The group is gone: the endpoint was deleted (stop), or the stream with it (start again from new events).
                if (!await ReloadAsync(cancellationToken)) return;
                await log.EnsureGroupAsync(tenant, _group, fromBeginning: false, cancellationToken);
            }
            catch (Exception e) when (StoreConditions.Classify(e) is not null && !cancellationToken.IsCancellationRequested)
            {
                LogStoreProblem(logger, tenant, endpointId, e.GetType().Name);
                nextRead = time.GetUtcNow() + eventSettings.PollInterval;
            }

            _attempts.RemoveAll(t => t.IsCompleted);
            await WaitAsync(Earliest(nextRead, nextRenew, nextReload), cancellationToken);
        }
    }

    private DateTimeOffset Earliest(DateTimeOffset nextRead, DateTimeOffset nextRenew, DateTimeOffset nextReload)
    {
        var wake = nextRenew < nextReload ? nextRenew : nextReload;
        if (_endpoint!.Enabled && _queue.Count < settings.MaxBufferedPerEndpoint && nextRead < wake) wake = nextRead;
        if (_queue.NextRetryTime() is { } retry && retry < wake) wake = retry;
        return wake;
    }

    private async Task WaitAsync(DateTimeOffset wake, CancellationToken cancellationToken)
    {
        var delay = wake - time.GetUtcNow();
        if (delay <= TimeSpan.Zero || !_completions.IsEmpty) return;
        // A completed POST wakes the loop at once (its lane's next event may go).
        await _signal.WaitAsync(delay, cancellationToken);
    }

    private async Task<int> EnqueueAsync(IReadOnlyList<StoredEvent> events, CancellationToken cancellationToken)
    {
        List<string>? skipped = null;
        foreach (var stored in events)
        {
            if (_endpoint!.Accepts(stored.Event.Type))
            {
                _queue.Enqueue(stored.Event.MailboxId, new Item(stored, null, RedisEventLog.AppendTimeOf(stored.Id)));
            }
            else
            {
                (skipped ??= []).Add(stored.Id);
            }
        }

        if (skipped is not null) await log.AcknowledgeAsync(tenant, _group, skipped, cancellationToken);
        return events.Count;
    }

    private void StartAttempt(Item item, CancellationToken cancellationToken)
    {
        var url = _url!;
        var secrets = _secrets;
        _attempts.Add(Task.Run(
            async () =>
            {
                AttemptResult result;
                try
                {
                    result = await sender.SendAsync(url, item.Event, secrets, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                _completions.Enqueue((item, result));
                _signal.Release();
            },
            CancellationToken.None));
    }

    private async Task CompleteAsync(Item item, AttemptResult result, CancellationToken cancellationToken)
    {
        var mailbox = item.Event.Event.MailboxId;
        var now = time.GetUtcNow();
        var attempts = item.Attempts + 1;
        if (result.Success)
        {
            await ConfirmAsync(item, cancellationToken);
            item.Attempts = attempts;
            metrics.Delivered(now - item.AgeOrigin);
            _queue.Complete(mailbox, item);
            return;
        }

        if (!item.FailureCounted)
        {
            metrics.Failed(result.Status);
            item.FailureCounted = true;
        }

        var deadline = item.AgeOrigin + settings.MaxAge;
        if (now >= deadline || result.Error == "invalid_event_data")
        {
            await deadLetters.AddAsync(tenant, endpointId, item.Event, attempts, result.StatusCode, result.Error, cancellationToken);
            await ConfirmAsync(item, cancellationToken);
            metrics.DeadLettered();
            LogDeadLettered(logger, tenant, endpointId, item.Event.Id, attempts, result.Status);
            _queue.Complete(mailbox, item);
            return;
        }

        item.Attempts = attempts;
        item.FailureCounted = false;
        var retryAt = now + WebhookBackoff.Delay(attempts, settings.InitialBackoff, settings.MaxBackoff, _random);
        // The last attempt is made at the deadline, not skipped past it.
        _queue.Retry(mailbox, item, retryAt < deadline ? retryAt : deadline);
    }

    private Task ConfirmAsync(Item item, CancellationToken cancellationToken) =>
        item.RedeliveryEntryId is { } entry
            ? deadLetters.RemoveRedeliveryAsync(tenant, endpointId, entry)
            : log.AcknowledgeAsync(tenant, _group, [item.Event.Id], cancellationToken);

    /// <summary>Reads the endpoint again (url, types, enabled, secrets); false when it was deleted.</summary>
    private async Task<bool> ReloadAsync(CancellationToken cancellationToken)
    {
        var loaded = await manager.LoadAsync(tenant, endpointId, cancellationToken);
        if (loaded is not { } current) return false;
        _endpoint = current.Endpoint;
        _url = new Uri(current.Endpoint.Url, UriKind.Absolute);
        _secrets = manager.SigningSecrets(tenant, current.Endpoint);
        return true;
    }

    /// <summary>An event held by the worker; <see cref="RedeliveryEntryId"/> set for a redelivered dead letter.</summary>
    private sealed class Item(StoredEvent stored, string? redeliveryEntryId, DateTimeOffset ageOrigin)
    {
        public StoredEvent Event { get; } = stored;

        public string? RedeliveryEntryId { get; } = redeliveryEntryId;

        /// <summary>Where MaxAge counts from: the append (or the redelivery request).</summary>
        public DateTimeOffset AgeOrigin { get; } = ageOrigin;

        public int Attempts { get; set; }

        /// <summary>The failed attempt being handled was counted in the metrics (handling it is retried after a store failure).</summary>
        public bool FailureCounted { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook {Tenant}/{EndpointId}: lease lost to another replica; stopped delivering.")]
    private static partial void LogLeaseLost(ILogger logger, string tenant, string endpointId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {Tenant}/{EndpointId}: the store failed ({Exception}); retrying.")]
    private static partial void LogStoreProblem(ILogger logger, string tenant, string endpointId, string exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {Tenant}/{EndpointId}: event {EventId} dead-lettered after {Attempts} attempts (last: {Status}).")]
    private static partial void LogDeadLettered(ILogger logger, string tenant, string endpointId, string eventId, int attempts, string status);
}
