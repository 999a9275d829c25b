using System.Diagnostics;
using System.Threading.Channels;
using Google.Protobuf;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Pop3;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.Options;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.Messages;

/// <summary>
/// WatchMessages: one poller per mailbox in this process, shared by all its watchers. The poller opens a session every
/// <see cref="Pop3Options.PollInterval"/> (under the mailbox lease, like any call), lists uids, fetches each new message
/// once and hands the prepared frames to every watcher that has not seen it and whose consumer has not acknowledged it.
/// Memory is reserved in the shared <see cref="ByteBudget"/> until every watcher has written the message; a slow watcher
/// slows its mailbox's poller, never memory.
/// </summary>
internal sealed partial class WatchHub(
    MailboxRepository mailboxes,
    Pop3SessionFactory sessions,
    ConsumerLedger ledger,
    ByteBudget budget,
    IOptions<Pop3Options> options,
    MailGrpcMetrics metrics,
    ILogger<WatchHub> logger) : IDisposable
{
    private const int WatcherQueue = 16;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Poller> _pollers = new(StringComparer.Ordinal);
    private readonly ILogger _logger = logger;

    private Pop3Options Pop3 => options.Value;

    /// <summary>Runs one watch until the caller leaves. <paramref name="established"/> runs once the baseline is known.</summary>
    public async Task WatchAsync(string tenant, V1.WatchMessagesRequest request, Func<Task> established, Func<V1.MessageFrame, Task> write, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(request.MailboxId);
        var consumer = MessageRequestValidator.OptionalConsumer(request.Consumer);
        var headersOnly = MessageRequestValidator.HeadersOnly(request.View);
        var mailbox = await mailboxes.GetRequiredAsync(tenant, mailboxId, cancellationToken);
        MessageRequestValidator.EnsureActive(mailbox);

        var watcher = new Watcher(consumer, headersOnly, request.IncludeExisting);
        var poller = Join(tenant, mailboxId, watcher);
        try
        {
            await watcher.Ready.Task.WaitAsync(cancellationToken);
            await established();
            await foreach (var message in watcher.Queue.Reader.ReadAllAsync(cancellationToken))
            {
                try
                {
                    if (await message.WriteAsync(headersOnly, write) is { } sent)
                    {
                        metrics.MessageStreamed("WatchMessages", sent);
                    }
                }
                finally
                {
                    message.Release();
                }
            }
        }
        finally
        {
            Leave(poller, watcher);
            while (watcher.Queue.Reader.TryRead(out var left))
            {
                left.Release();
            }
        }
    }

    private Poller Join(string tenant, string mailboxId, Watcher watcher)
    {
        lock (_gate)
        {
            var key = tenant + "\n" + mailboxId;
            if (!_pollers.TryGetValue(key, out var poller))
            {
                poller = new Poller(this, key, tenant, mailboxId);
                _pollers[key] = poller;
                poller.Watchers.Add(watcher);
                poller.Start();
            }
            else
            {
                poller.Watchers.Add(watcher);
                poller.Wake();
            }

            return poller;
        }
    }

    private void Leave(Poller poller, Watcher watcher)
    {
        watcher.Queue.Writer.TryComplete();
        lock (_gate)
        {
            poller.Watchers.Remove(watcher);
            if (poller.Watchers.Count == 0 && _pollers.TryGetValue(poller.Key, out var current) && current == poller)
            {
                _pollers.Remove(poller.Key);
                poller.Stop();
            }
        }
    }

    private void Retire(Poller poller)
    {
        lock (_gate)
        {
            if (_pollers.TryGetValue(poller.Key, out var current) && current == poller)
            {
                _pollers.Remove(poller.Key);
            }

            poller.Dispose();
        }
    }

    private Watcher[] Snapshot(Poller poller)
    {
        lock (_gate)
        {
            return [.. poller.Watchers];
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var poller in _pollers.Values)
            {
                poller.Stop();
            }

            _pollers.Clear();
        }
    }

    private async Task PollOnceAsync(Poller poller, CancellationToken cancellationToken)
    {
        var watchers = Snapshot(poller);
        if (watchers.Length == 0)
        {
            return;
        }

        try
        {
            var mailbox = await mailboxes.GetRequiredAsync(poller.Tenant, poller.MailboxId, cancellationToken);
            MessageRequestValidator.EnsureActive(mailbox);

            // Waiting longer than a poll interval for a busy mailbox only delays the next poll.
            var wait = Pop3.LeaseWait < Pop3.PollInterval ? Pop3.LeaseWait : Pop3.PollInterval;
            await using var session = await sessions.OpenAsync(mailbox, cancellationToken, wait);
            var entries = await session.ListAsync();
            await ledger.ObserveListingAsync(poller.Tenant, poller.MailboxId, entries.Select(e => e.Uid), cancellationToken);

            foreach (var watcher in watchers.Where(w => !w.Initialized))
            {
                if (!watcher.IncludeExisting)
                {
                    watcher.Delivered.UnionWith(entries.Select(e => e.Uid));
                }

                watcher.Initialized = true;
            }

            var wanted = new Dictionary<Watcher, HashSet<string>>();
            foreach (var watcher in watchers)
            {
                var fresh = entries.Where(e => !watcher.Delivered.Contains(e.Uid)).Select(e => e.Uid).ToArray();
                if (watcher.Consumer is { } consumer && fresh.Length > 0)
                {
                    var acked = await ledger.ContainsAsync(poller.Tenant, poller.MailboxId, consumer, fresh, cancellationToken);
                    for (var i = 0; i < fresh.Length; i++)
                    {
                        if (acked[i])
                        {
                            watcher.Delivered.Add(fresh[i]);
                        }
                    }

                    fresh = fresh.Where((_, i) => !acked[i]).ToArray();
                }

                wanted[watcher] = new HashSet<string>(fresh, StringComparer.Ordinal);
                watcher.Ready.TrySetResult();
            }

            var toFetch = entries.Where(e => wanted.Values.Any(set => set.Contains(e.Uid))).ToArray();
            if (toFetch.Length == 0)
            {
                return;
            }

            var full = wanted.Any(w => !w.Key.HeadersOnly && w.Value.Count > 0);
            LogNew(_logger, poller.MailboxId, toFetch.Length);
            foreach (var batch in toFetch.Chunk(Pop3.BatchSize))
            {
                foreach (var message in await PrepareAsync(session, batch, full, cancellationToken))
                {
                    var receivers = wanted.Where(w => w.Value.Contains(message.Uid)).Select(w => w.Key).ToArray();
                    message.AddReferences(receivers.Length);
                    foreach (var watcher in receivers)
                    {
                        watcher.Delivered.Add(message.Uid);
                        try
                        {
                            await watcher.Queue.Writer.WriteAsync(message, cancellationToken);
                        }
                        catch (ChannelClosedException)
                        {
                            message.Release();
                        }
                    }

                    message.Release(); // the poller's own reference
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (MailGrpcException ex) when (ex.Kind is ErrorKind.FailedPrecondition or ErrorKind.NotFound or ErrorKind.PermissionDenied)
        {
            // Not going to fix itself (not active, deleted, refused): end every watch with the reason.
            foreach (var watcher in watchers)
            {
                watcher.Fail(ex);
            }
        }
#pragma warning disable CA1031 // A transient failure ends only watches that never got going; the others wait for the next poll.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogPollFailed(_logger, ex, poller.MailboxId);
            foreach (var watcher in watchers.Where(w => !w.Ready.Task.IsCompleted))
            {
                watcher.Fail(ex);
            }
        }
    }

    private async Task<List<Prepared>> PrepareAsync(Pop3Session session, Pop3Entry[] batch, bool full, CancellationToken cancellationToken)
    {
        var prepared = new List<Prepared>(batch.Length);
        var small = batch.Where(e => e.Size <= Pop3.MaxMessageSize).ToArray();
        var bytes = full ? small.Sum(e => e.Size) : small.Length * 64L * 1024;
        var reservation = await budget.ReserveAsync(bytes, cancellationToken);
        try
        {
            var streams = small.Length == 0 ? [] : await session.FetchAsync(small.Select(e => e.Index).ToArray(), headersOnly: !full, cancellationToken);
            var next = 0;
            foreach (var entry in batch)
            {
                if (entry.Size > Pop3.MaxMessageSize)
                {
                    V1.Envelope envelope = new();
                    if (session.SupportsTop)
                    {
                        var headers = await session.FetchAsync([entry.Index], headersOnly: true, cancellationToken);
                        await using (headers[0])
                        {
                            envelope = await EnvelopeReader.FromHeaderStreamAsync(headers[0], cancellationToken);
                        }
                    }

                    prepared.Add(new Prepared(entry, envelope, null, null, null));
                    continue;
                }

                await using var stream = streams[next++];
                var message = await PrepareOneAsync(entry, stream, full, reservation, cancellationToken);
                prepared.Add(message);
            }

            return prepared;
        }
        finally
        {
            // Each prepared message now holds its own share; what is left (headers allowance, skipped) goes back.
            reservation.Release(bytes - prepared.Sum(p => p.Held));
        }
    }

    private async Task<Prepared> PrepareOneAsync(Pop3Entry entry, Stream stream, bool full, ByteBudget.Reservation reservation, CancellationToken cancellationToken)
    {
        if (!full)
        {
            return new Prepared(entry, await EnvelopeReader.FromHeaderStreamAsync(stream, cancellationToken), null, null, null);
        }

        var envelope = await EnvelopeReader.FromMessageAsync(stream, cancellationToken);
        var chunks = new List<V1.MessageFrame>();
        var (sent, sha256) = await MessageStreamer.WriteChunksAsync(stream, frame =>
        {
            // A chunk lends the streamer's pooled buffer for this call only; these frames go to every watcher later.
            frame.Chunk.Data = ByteString.CopyFrom(frame.Chunk.Data.Span);
            chunks.Add(frame);
            return Task.CompletedTask;
        }, Pop3.ChunkSize, cancellationToken);
        return new Prepared(entry, envelope, chunks, new V1.MessageEnd { Uid = entry.Uid, Size = sent, Sha256 = sha256 }, reservation);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Watch poller of mailbox {MailboxId} found {Count} new messages")]
    private static partial void LogNew(ILogger logger, string mailboxId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch poll of mailbox {MailboxId} failed; retrying at the next interval")]
    private static partial void LogPollFailed(ILogger logger, Exception exception, string mailboxId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Watch poller of mailbox {MailboxId} stopped unexpectedly")]
    private static partial void LogPollerCrashed(ILogger logger, Exception exception, string mailboxId);

    /// <summary>One watch call: what it wants and the queue its poller fills.</summary>
    private sealed class Watcher(string? consumer, bool headersOnly, bool includeExisting)
    {
        public string? Consumer { get; } = consumer;

        public bool HeadersOnly { get; } = headersOnly;

        public bool IncludeExisting { get; } = includeExisting;

        /// <summary>Set by the poller only (its loop is the one thread touching it).</summary>
        public bool Initialized { get; set; }

        public HashSet<string> Delivered { get; } = new(StringComparer.Ordinal);

        public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Channel<Prepared> Queue { get; } = Channel.CreateBounded<Prepared>(new BoundedChannelOptions(WatcherQueue) { SingleReader = true, SingleWriter = true });

        public void Fail(Exception error)
        {
            Ready.TrySetException(error);
            Queue.Writer.TryComplete(error);
        }
    }

    /// <summary>A fetched message's frames, shared read-only by its watchers; its budget share goes back with the last one.</summary>
    private sealed class Prepared(Pop3Entry entry, V1.Envelope envelope, List<V1.MessageFrame>? chunks, V1.MessageEnd? end, ByteBudget.Reservation? reservation)
    {
        private int _references = 1;

        public string Uid => entry.Uid;

        public long Held => reservation is null ? 0 : entry.Size;

        public void AddReferences(int count) => Interlocked.Add(ref _references, count);

        public void Release()
        {
            if (Interlocked.Decrement(ref _references) == 0)
            {
                reservation?.Release(entry.Size);
            }
        }

        /// <summary>Writes the message's frames; returns the raw bytes sent, or null when it was skipped.</summary>
        public async Task<long?> WriteAsync(bool headersOnly, Func<V1.MessageFrame, Task> write)
        {
            await write(new V1.MessageFrame { Summary = new V1.MessageSummary { Uid = entry.Uid, Size = entry.Size, Envelope = envelope } });
            if (chunks is null && end is null && !headersOnly)
            {
                await write(new V1.MessageFrame { Skipped = new V1.MessageSkipped { Uid = entry.Uid, Reason = ErrorReasons.MessageTooLarge } });
                return null;
            }

            if (headersOnly)
            {
                await write(new V1.MessageFrame { End = new V1.MessageEnd { Uid = entry.Uid, Size = 0, Sha256 = string.Empty } });
                return 0;
            }

            foreach (var chunk in chunks!)
            {
                await write(chunk);
            }

            await write(new V1.MessageFrame { End = end });
            return end!.Size;
        }
    }

    /// <summary>The polling loop of one mailbox.</summary>
    private sealed class Poller(WatchHub hub, string key, string tenant, string mailboxId) : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly SemaphoreSlim _wake = new(0);
        private bool _disposed;

        public string Key { get; } = key;

        public string Tenant { get; } = tenant;

        public string MailboxId { get; } = mailboxId;

        public List<Watcher> Watchers { get; } = [];

        public void Start() => _ = Task.Run(RunAsync);

        // Wake, Stop and Dispose run under the hub's lock, so none of them races the others.
        public void Wake()
        {
            if (!_disposed)
            {
                _wake.Release();
            }
        }

        public void Stop()
        {
            if (!_disposed)
            {
                _stop.Cancel();
            }
        }

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                _stop.Dispose();
                _wake.Dispose();
            }
        }

        private async Task RunAsync()
        {
            var token = _stop.Token;
            try
            {
                while (!token.IsCancellationRequested)
                {
                    // Fixed rate: the interval counts from the start of a poll, so a slow POP3 session does not stretch it.
                    var started = Stopwatch.GetTimestamp();
                    await hub.PollOnceAsync(this, token);
                    var rest = hub.Pop3.PollInterval - Stopwatch.GetElapsedTime(started);
                    if (rest > TimeSpan.Zero)
                    {
                        await _wake.WaitAsync(rest, token);
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
#pragma warning disable CA1031 // Logged; the watchers are ended with the error instead of hanging.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogPollerCrashed(hub._logger, ex, MailboxId);
                foreach (var watcher in hub.Snapshot(this))
                {
                    watcher.Fail(ex);
                }
            }
            finally
            {
                hub.Retire(this);
            }
        }
    }
}
