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
/// A mailbox holds at most <see cref="WebhookOptions.MaxBufferedPerMailbox"/> events: its later events are <em>parked</em>,
/// left pending in the group (in Redis) with only their mailbox's first one remembered; once the lane is half empty a walk
/// through the group's pending list reads them back in order. So a mailbox whose events keep failing holds a few events
/// of the buffer, not all of it, and the others keep flowing.
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

    // Stream events held in the queue (a walk through the pending list skips them).
    private readonly HashSet<string> _held = new(StringComparer.Ordinal);

    // Parked mailboxes: the id of each one's first event left pending in the group, not held. Every later event of the
    // mailbox is parked too until a walk has read them all back, so its order holds.
    private readonly Dictionary<string, string> _parkedFrom = new(StringComparer.Ordinal);

    // The walk in progress: the pending list's cursor, and the mailboxes it reads back (those with room when it began).
    private string? _walkCursor;
    private readonly Dictionary<string, Walker> _walkers = new(StringComparer.Ordinal);

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
                        if (await WalkAsync(count, cancellationToken)) got++;
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
                _parkedFrom.Clear();
                _walkers.Clear();
                _walkCursor = null;
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
            if (_held.Contains(stored.Id)) continue;
            if (_endpoint!.Accepts(stored.Event.Type))
            {
                Admit(stored);
            }
            else
            {
                (skipped ??= []).Add(stored.Id);
            }
        }

        if (skipped is not null) await log.AcknowledgeAsync(tenant, _group, skipped, cancellationToken);
        return events.Count;
    }

    /// <summary>Holds a stream event in its mailbox's lane, or parks it (pending in the group) when the mailbox is parked or full.</summary>
    private void Admit(StoredEvent stored)
    {
        var mailbox = stored.Event.MailboxId;
        if (_parkedFrom.ContainsKey(mailbox) || !HasRoom(mailbox))
        {
            _parkedFrom.TryAdd(mailbox, stored.Id);
            return;
        }

        Hold(stored);
    }

    private void Hold(StoredEvent stored)
    {
        _queue.Enqueue(stored.Event.MailboxId, new Item(stored, null, RedisEventLog.AppendTimeOf(stored.Id)));
        _held.Add(stored.Id);
    }

    private bool HasRoom(string mailbox) => _queue.CountOf(mailbox) < settings.MaxBufferedPerMailbox;

    // Refilled from half empty, so a mailbox with a long backlog costs one walk per half lane, not one per event.
    private bool CanRefill(string mailbox) => _queue.CountOf(mailbox) <= settings.MaxBufferedPerMailbox / 2;

    /// <summary>
    /// One page of the walk through the group's pending list (starting one when a parked mailbox has room again): the
    /// walking mailboxes' parked events go to their lanes, in stream order, while there is room; a mailbox whose lane
    /// fills stops taking for the rest of the walk (a later event must not pass an earlier one). The walk ends when every
    /// walking mailbox has stopped, or at the end of the list, where a walking mailbox with nothing left over is no longer
    /// parked. A mailbox whose first parked event is still ahead of the walk joins it. False when there was nothing to walk.
    /// </summary>
    private async Task<bool> WalkAsync(int count, CancellationToken cancellationToken)
    {
        if (_walkCursor is null)
        {
            foreach (var (mailbox, from) in _parkedFrom)
            {
                if (!CanRefill(mailbox)) continue;
                _walkers[mailbox] = new Walker();
                if (_walkCursor is null || CompareIds(from, _walkCursor) < 0) _walkCursor = from;
            }

            if (_walkCursor is null) return false;
        }
        else
        {
            foreach (var (mailbox, from) in _parkedFrom)
            {
                if (!_walkers.ContainsKey(mailbox) && CompareIds(from, _walkCursor) >= 0 && CanRefill(mailbox)) _walkers[mailbox] = new Walker();
            }
        }

        var (page, next) = await log.ClaimPageAsync(tenant, _group, replica, TimeSpan.Zero, _walkCursor, count, cancellationToken);
        List<string>? skipped = null;
        foreach (var stored in page)
        {
            if (_held.Contains(stored.Id)) continue;
            if (!_endpoint!.Accepts(stored.Event.Type))
            {
                // The endpoint's filter changed while the event was parked.
                (skipped ??= []).Add(stored.Id);
                continue;
            }

            var mailbox = stored.Event.MailboxId;
            if (_walkers.TryGetValue(mailbox, out var walker))
            {
                if (!walker.Stopped && HasRoom(mailbox) && _queue.Count < settings.MaxBufferedPerEndpoint)
                {
                    Hold(stored);
                }
                else
                {
                    walker.Stopped = true;
                    walker.LeftFrom ??= stored.Id;
                }
            }
            else if (!_parkedFrom.ContainsKey(mailbox))
            {
                // Pending, not held and not parked: not expected (every read event is held or parked); deliver it.
                Admit(stored);
            }
        }

        if (skipped is not null) await log.AcknowledgeAsync(tenant, _group, skipped, cancellationToken);
        if (next == "0-0" || _walkers.Values.All(w => w.Stopped))
        {
            foreach (var (mailbox, walker) in _walkers)
            {
                if (walker.LeftFrom is { } left) _parkedFrom[mailbox] = left;
                else _parkedFrom.Remove(mailbox);
            }

            _walkers.Clear();
            _walkCursor = null;
        }
        else
        {
            _walkCursor = next;
        }

        return true;
    }

    private static int CompareIds(string a, string b)
    {
        static (long, long) Parse(string id)
        {
            var dash = id.IndexOf('-', StringComparison.Ordinal);
            return dash < 0
                ? (long.Parse(id, System.Globalization.CultureInfo.InvariantCulture), 0)
                : (long.Parse(id[..dash], System.Globalization.CultureInfo.InvariantCulture), long.Parse(id[(dash + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        }

        return Parse(a).CompareTo(Parse(b));
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
            if (item.RedeliveryEntryId is null) _held.Remove(item.Event.Id);
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
            if (item.RedeliveryEntryId is null) _held.Remove(item.Event.Id);
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

    /// <summary>A mailbox a walk reads back: whether it stopped taking (its lane filled) and its first event left parked.</summary>
    private sealed class Walker
    {
        public bool Stopped { get; set; }

        public string? LeftFrom { get; set; }
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
