using System.Diagnostics.Metrics;
using MailGrpc.Server.Telemetry;

namespace MailGrpc.Server.Sync;

/// <summary>
/// The sync engine's metrics (meter <c>MailGrpc</c>): schedule backlog, poll lag, polls by outcome, poll failures by
/// reason, events appended by type. It also keeps the last minute's lags so readiness can compare their p99 with the
/// interval (<see cref="SyncLagHealthCheck"/>).
/// </summary>
internal sealed class SyncMetrics
{
    public const string PollOk = "ok";
    public const string PollFailed = "failed";
    public const string PollBusy = "busy";
    public const string PollSkipped = "skipped";
    public const string PollTimeout = "timeout";

    private static readonly TimeSpan LagWindow = TimeSpan.FromMinutes(1);
    private const int MaxLagSamples = 8192;

    private readonly TimeProvider _time;
    private readonly Histogram<double> _lag;
    private readonly Counter<long> _polls;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _events;
    private readonly Lock _lock = new();
    private readonly Queue<(DateTimeOffset At, double Seconds)> _recentLags = new();
    private readonly Counter<long> _watchPolls;
    private readonly Counter<long> _watchSessions;
    private long _backlog;
    private long _pollsStarted;
    private long _watchPollCount;
    private long _watchSessionCount;

    public SyncMetrics(IMeterFactory meterFactory, TimeProvider time)
    {
        _time = time;
        var meter = meterFactory.Create(MailGrpcMetrics.MeterName);
        _lag = meter.CreateHistogram<double>("mailgrpc.sync.poll.lag", "s", "How late a poll started after its mailbox was due.", tags: null, new InstrumentAdvice<double>
        {
            // Sub-second resolution where it matters (a healthy lag), up to intervals of minutes.
            HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
        });
        _polls = meter.CreateCounter<long>("mailgrpc.sync.polls", "{poll}", "Sync polls by outcome (ok, failed, busy, skipped, timeout).");
        _failures = meter.CreateCounter<long>("mailgrpc.sync.poll.failures", "{poll}", "Failed sync polls by ErrorInfo reason.");
        _events = meter.CreateCounter<long>("mailgrpc.sync.events.appended", "{event}", "Events appended to tenant feeds, by type.");
        _watchPolls = meter.CreateCounter<long>("mailgrpc.watch.polls", "{poll}", "Engine polls that published a watched mailbox's listing (one per interval per watched mailbox in the deployment).");
        _watchSessions = meter.CreateCounter<long>("mailgrpc.watch.sessions", "{session}", "POP3 sessions a replica opened for its own watchers: a watch's first listing, or fetching new messages.");
        meter.CreateObservableGauge("mailgrpc.sync.backlog", () => Interlocked.Read(ref _backlog), "{mailbox}", "Mailboxes due and not yet claimed by any replica (last count).");
    }

    /// <summary>Due and unclaimed mailboxes, as last counted.</summary>
    public long Backlog => Interlocked.Read(ref _backlog);

    public void SetBacklog(long due) => Interlocked.Exchange(ref _backlog, due);

    /// <summary>Polls this replica started since it began (for the bench's and tests' view of who polled).</summary>
    public long PollsStarted => Interlocked.Read(ref _pollsStarted);

    public void PollStarted(TimeSpan lag)
    {
        Interlocked.Increment(ref _pollsStarted);
        var seconds = Math.Max(0, lag.TotalSeconds);
        _lag.Record(seconds);
        lock (_lock)
        {
            _recentLags.Enqueue((_time.GetUtcNow(), seconds));
            while (_recentLags.Count > MaxLagSamples)
            {
                _recentLags.Dequeue();
            }
        }
    }

    /// <summary>Polls of this replica that published a watched mailbox's listing.</summary>
    public long WatchPolls => Interlocked.Read(ref _watchPollCount);

    /// <summary>POP3 sessions this replica opened for its own watchers (first listings and fetches).</summary>
    public long WatchSessions => Interlocked.Read(ref _watchSessionCount);

    public void WatchPolled()
    {
        Interlocked.Increment(ref _watchPollCount);
        _watchPolls.Add(1);
    }

    public void WatchSessionOpened()
    {
        Interlocked.Increment(ref _watchSessionCount);
        _watchSessions.Add(1);
    }

    public void Polled(string outcome) => _polls.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void PollFailedWith(string reason) => _failures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void EventAppended(string type) => _events.Add(1, new KeyValuePair<string, object?>("type", type));

    /// <summary>The p99 of the poll lags of the last minute; null when no poll started in it.</summary>
    public TimeSpan? RecentLagP99()
    {
        double[] lags;
        lock (_lock)
        {
            var since = _time.GetUtcNow() - LagWindow;
            while (_recentLags.Count > 0 && _recentLags.Peek().At < since)
            {
                _recentLags.Dequeue();
            }

            lags = _recentLags.Select(l => l.Seconds).ToArray();
        }

        if (lags.Length == 0)
        {
            return null;
        }

        Array.Sort(lags);
        return TimeSpan.FromSeconds(lags[Math.Min(lags.Length - 1, (int)Math.Ceiling(lags.Length * 0.99) - 1)]);
    }
}
