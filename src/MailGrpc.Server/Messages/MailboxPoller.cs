using System.Diagnostics;
using System.Threading.Channels;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Pop3;
using MailGrpc.Server.Sync;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Messages;

/// <summary>What every <see cref="MailboxPoller"/> uses (one instance, from DI).</summary>
internal sealed class MailboxPolling(
    MailboxRepository mailboxes,
    Pop3SessionFactory sessions,
    ConsumerLedger ledger,
    MessageFetcher fetcher,
    WatchDemand watch,
    SyncMetrics metrics,
    IOptions<Pop3Options> options,
    ILogger<MailboxPoller> logger)
{
    public MailboxRepository Mailboxes { get; } = mailboxes;

    public Pop3SessionFactory Sessions { get; } = sessions;

    public ConsumerLedger Ledger { get; } = ledger;

    public MessageFetcher Fetcher { get; } = fetcher;

    public ILogger Logger { get; } = logger;

    public WatchDemand Watch { get; } = watch;

    public SyncMetrics Metrics { get; } = metrics;

    public Pop3Options Pop3 => options.Value;
}

/// <summary>
/// The watch loop of one mailbox in this process, shared by its watchers. A new watch gets a first listing of its own (a
/// session under the mailbox lease: the baseline, and the existing messages with <c>include_existing</c>). After that:
/// with the Redis store (<see cref="WatchDemand.Deployed"/>) it keeps this replica's watch demand and reads the listing the
/// sync engine publishes — one UIDL poll per interval in the whole deployment — and opens a session only when that listing
/// holds uids a watcher still wants; with the embedded store it polls itself every <see cref="Pop3Options.PollInterval"/>
/// (fixed rate, from the start of a poll). Either way it fetches what its watchers have not seen through the shared
/// <see cref="MessageFetcher"/>, once for all of them.
/// </summary>
internal sealed partial class MailboxPoller(WatchRegistry registry, MailboxPolling polling, string key, string tenant, string mailboxId) : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private bool _disposed;

    public string Key { get; } = key;

    public string Tenant { get; } = tenant;

    public string MailboxId { get; } = mailboxId;

    /// <summary>Guarded by the registry's lock.</summary>
    public List<Watcher> Watchers { get; } = [];

    private Pop3Options Pop3 => polling.Pop3;

    public void Start() => _ = Task.Run(RunAsync);

    // Wake, Stop and Dispose run under the registry's lock, so none of them races the others.
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

    /// <summary>
    /// Whether a failed poll ends every watch: a failure that says what to fix (the mailbox is not active or gone, its
    /// credential is refused for good, the server cannot serve it) does not fix itself by polling again; a retryable one
    /// (UNAVAILABLE, RESOURCE_EXHAUSTED: the error contract's "retry") or any other error is retried at the next interval.
    /// </summary>
    internal static bool EndsWatches(MailGrpcException error) => error.Kind is ErrorKind.FailedPrecondition or ErrorKind.NotFound or ErrorKind.PermissionDenied;

    private async Task RunAsync()
    {
        var token = _stop.Token;
        var deployed = polling.Watch.Deployed;
        if (deployed)
        {
            polling.Watch.Started();
        }

        try
        {
            if (deployed)
            {
                await FollowAsync(token);
            }
            else
            {
                await PollAloneAsync(token);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
#pragma warning disable CA1031 // Logged; the watchers are ended with the error instead of hanging.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogPollerCrashed(polling.Logger, ex, MailboxId);
            foreach (var watcher in registry.Snapshot(this))
            {
                watcher.Fail(ex);
            }
        }
        finally
        {
            if (deployed)
            {
                polling.Watch.Stopped();
            }

            registry.Retire(this);
        }
    }

    /// <summary>The embedded store: this process polls the mailbox itself every interval.</summary>
    private async Task PollAloneAsync(CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            // Fixed rate: the interval counts from the start of a poll, so a slow POP3 session does not stretch it.
            var started = Stopwatch.GetTimestamp();
            await PollOnceAsync(null, token);
            var rest = Pop3.PollInterval - Stopwatch.GetElapsedTime(started);
            if (rest > TimeSpan.Zero)
            {
                await _wake.WaitAsync(rest, token);
            }
        }
    }

    /// <summary>
    /// The Redis store: every interval this replica renews its watch demand and checks the mailbox is still servable; every
    /// <see cref="WatchDemand.CheckEvery"/> it looks at the published listing's version and, when it changed, fetches what its
    /// watchers want from it. A new watcher gets its own first listing at once.
    /// </summary>
    private async Task FollowAsync(CancellationToken token)
    {
        var watch = polling.Watch;
        long seen = 0;
        long? renewedAt = null;
        long retryAt = 0;
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (renewedAt is not { } renewed || Stopwatch.GetElapsedTime(renewed) >= watch.Interval)
                {
                    renewedAt = Stopwatch.GetTimestamp();
                    await watch.RenewAsync(Tenant, MailboxId, token);
                    await EnsureServableAsync(token);
                }

                if (registry.Snapshot(this).Any(w => !w.Initialized))
                {
                    // The version before the listing: a listing published after it may hold what this one misses.
                    var before = await watch.Listings.VersionAsync(Tenant, MailboxId, token);
                    if (await PollOnceAsync(null, token))
                    {
                        seen = before;
                    }
                }
                else if (Stopwatch.GetTimestamp() >= retryAt
                    && await watch.Listings.VersionAsync(Tenant, MailboxId, token) is var version && version != 0 && version != seen
                    && await watch.Listings.GetAsync(Tenant, MailboxId, token) is { } listing)
                {
                    // A poll that failed for good: list it here (a session), which ends the watches with that error if it persists.
                    if (await PollOnceAsync(listing.Failed ? null : listing.Uids, token))
                    {
                        seen = listing.Version;
                    }
                    else
                    {
                        // A failed fetch is tried again after an interval, not at every look.
                        retryAt = Stopwatch.GetTimestamp() + (long)(watch.Interval.TotalSeconds * Stopwatch.Frequency);
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                throw;
            }
            catch (MailGrpcException ex) when (EndsWatches(ex))
            {
                foreach (var watcher in registry.Snapshot(this))
                {
                    watcher.Fail(ex);
                }
            }
#pragma warning disable CA1031 // Redis unreachable for a moment: tried again at the next look.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogPollFailed(polling.Logger, ex, MailboxId);
            }

            await _wake.WaitAsync(watch.CheckEvery, token);
        }
    }

    /// <summary>Ends the watches (with its error) of a mailbox that is gone or no longer ACTIVE: no poll would tell them.</summary>
    private async Task EnsureServableAsync(CancellationToken cancellationToken)
    {
        var mailbox = await polling.Mailboxes.GetRequiredAsync(Tenant, MailboxId, cancellationToken);
        MessageRequestValidator.EnsureActive(mailbox);
    }

    /// <summary>
    /// One round for the watchers: lists the mailbox in a session and fetches what they want. Given the engine's
    /// <paramref name="published"/> listing (and no watcher waiting for its first listing), it opens no session unless that
    /// listing holds a uid some watcher wants. False when it failed and should be tried again.
    /// </summary>
    private async Task<bool> PollOnceAsync(IReadOnlyList<string>? published, CancellationToken cancellationToken)
    {
        var watchers = registry.Snapshot(this);
        if (watchers.Length == 0)
        {
            return true;
        }

        try
        {
            if (published is not null && watchers.All(w => w.Initialized))
            {
                var candidates = await WantedAsync(watchers, published, cancellationToken);
                if (candidates.Values.All(set => set.Count == 0))
                {
                    return true;
                }
            }

            var mailbox = await polling.Mailboxes.GetRequiredAsync(Tenant, MailboxId, cancellationToken);
            MessageRequestValidator.EnsureActive(mailbox);

            // A watch's first listing waits for a busy mailbox like any call; later, waiting longer than a poll interval only
            // delays the next round.
            var wait = Pop3.LeaseWait < Pop3.PollInterval || watchers.Any(w => !w.Initialized) ? Pop3.LeaseWait : Pop3.PollInterval;
            await using var session = await polling.Sessions.OpenAsync(mailbox, wait, cancellationToken);
            polling.Metrics.WatchSessionOpened();
            var entries = await session.ListAsync();
            await polling.Ledger.ObserveListingAsync(Tenant, MailboxId, entries.Select(e => e.Uid), cancellationToken);

            foreach (var watcher in watchers.Where(w => !w.Initialized))
            {
                if (!watcher.IncludeExisting)
                {
                    watcher.Delivered.UnionWith(entries.Select(e => e.Uid));
                }

                watcher.Initialized = true;
            }

            var wanted = await WantedAsync(watchers, entries.Select(e => e.Uid).ToArray(), cancellationToken);
            var plan = entries.Where(e => wanted.Values.Any(set => set.Contains(e.Uid))).Select(polling.Fetcher.Classify).ToArray();
            if (plan.Length == 0)
            {
                return true;
            }

            var full = wanted.Any(w => !w.Key.HeadersOnly && w.Value.Count > 0);
            LogNew(polling.Logger, MailboxId, plan.Length);
            await polling.Fetcher.FetchAsync(session, plan, headersOnly: !full, (fetched, ct) => HandOutAsync(fetched, full, wanted, ct), cancellationToken);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (MailGrpcException ex) when (EndsWatches(ex))
        {
            foreach (var watcher in watchers)
            {
                watcher.Fail(ex);
            }

            return true;
        }
#pragma warning disable CA1031 // A transient failure ends only watches that never got going; the others wait for the next poll.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogPollFailed(polling.Logger, ex, MailboxId);
            foreach (var watcher in watchers.Where(w => !w.Ready.Task.IsCompleted))
            {
                watcher.Fail(ex);
            }

            return false;
        }
    }

    /// <summary>For each watcher, the listed uids it has not seen and its consumer has not acknowledged; the watch is then established.</summary>
    private async Task<Dictionary<Watcher, HashSet<string>>> WantedAsync(Watcher[] watchers, IReadOnlyList<string> listed, CancellationToken cancellationToken)
    {
        var wanted = new Dictionary<Watcher, HashSet<string>>();
        foreach (var watcher in watchers)
        {
            var fresh = listed.Where(uid => !watcher.Delivered.Contains(uid)).ToArray();
            if (watcher.Consumer is { } consumer && fresh.Length > 0)
            {
                var acked = await polling.Ledger.ContainsAsync(Tenant, MailboxId, consumer, fresh, cancellationToken);
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

        return wanted;
    }

    /// <summary>Queues one fetched message to every watcher that wants it; its bytes stay reserved until the last has written it.</summary>
    private static async Task HandOutAsync(FetchedMessage fetched, bool full, Dictionary<Watcher, HashSet<string>> wanted, CancellationToken cancellationToken)
    {
        using var message = await WatchedMessage.FromAsync(fetched, full, cancellationToken);
        foreach (var (watcher, uids) in wanted)
        {
            if (!uids.Contains(message.Uid))
            {
                continue;
            }

            watcher.Delivered.Add(message.Uid);
            var lease = message.Lend();
            try
            {
                await watcher.Queue.Writer.WriteAsync(lease, cancellationToken);
            }
            catch (ChannelClosedException)
            {
                lease.Dispose();
            }
            catch
            {
                lease.Dispose();
                throw;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Watch poller of mailbox {MailboxId} found {Count} new messages")]
    private static partial void LogNew(ILogger logger, string mailboxId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch poll of mailbox {MailboxId} failed; retrying at the next interval")]
    private static partial void LogPollFailed(ILogger logger, Exception exception, string mailboxId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Watch poller of mailbox {MailboxId} stopped unexpectedly")]
    private static partial void LogPollerCrashed(ILogger logger, Exception exception, string mailboxId);
}
