using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace MailGrpc.Server.Telemetry;

/// <summary>
/// MailGrpc's own metrics (meter <c>MailGrpc</c>) and activity source. One singleton; the token, POP3 and diagnostics code
/// call its methods at the points they describe. Tags carry outcomes and stable reason codes, never a secret; only the
/// token-expiry gauge is per mailbox (tenant + mailbox id), because "which mailbox is about to lose access" is the question.
/// </summary>
internal sealed class MailGrpcMetrics : IDisposable
{
    public const string MeterName = "MailGrpc";
    public const string ActivitySourceName = "MailGrpc";

    public const string RefreshSuccess = "success";
    public const string RefreshFailure = "failure";
    public const string RefreshDeferred = "deferred";

    /// <summary>Success reasons say what triggered the refresh: the token was within the refresh margin, or POP3 refused it.</summary>
    public const string RefreshTriggerExpiring = "expiring";
    public const string RefreshTriggerRefused = "refused";

    // A gauge entry whose token expired this long ago belongs to a mailbox this process no longer reads (deleted, or
    // served by another replica now): drop it, so the series neither grows without bound nor alerts forever.
    private static readonly TimeSpan StaleExpiry = TimeSpan.FromHours(1);

    private readonly Meter _meter;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<(string Tenant, string Mailbox), DateTimeOffset> _tokenExpiries = new();
    private readonly Counter<long> _refreshes;
    private readonly Counter<long> _messagesStreamed;
    private readonly Counter<long> _bytesStreamed;
    private readonly Histogram<double> _pop3SessionDuration;
    private readonly Histogram<double> _leaseWait;
    private readonly UpDownCounter<long> _byteBudgetInUse;
    private readonly Counter<long> _diagnosticSteps;

    public MailGrpcMetrics(IMeterFactory meterFactory, TimeProvider time)
    {
        _time = time;
        _meter = meterFactory.Create(MeterName);
        _refreshes = _meter.CreateCounter<long>("mailgrpc.token.refreshes", "{refresh}", "Access-token refreshes by outcome (success, failure) and reason.");
        _meter.CreateObservableGauge("mailgrpc.token.expiry", ObserveTokenExpiries, "s", "Seconds until each mailbox's access token expires (negative once expired).");
        _messagesStreamed = _meter.CreateCounter<long>("mailgrpc.messages.streamed", "{message}", "Messages sent to callers, by RPC.");
        _bytesStreamed = _meter.CreateCounter<long>("mailgrpc.bytes.streamed", "By", "Raw MIME bytes sent to callers, by RPC.");
        _pop3SessionDuration = _meter.CreateHistogram<double>("mailgrpc.pop3.session.duration", "s", "POP3 session time from connect to disconnect, by outcome.");
        _leaseWait = _meter.CreateHistogram<double>("mailgrpc.pop3.lease.wait", "s", "Time spent waiting for a mailbox's POP3 lease, by outcome (acquired, busy, cancelled).");
        _byteBudgetInUse = _meter.CreateUpDownCounter<long>("mailgrpc.pop3.byte_budget.in_use", "By", "Message bytes currently held in memory under the global byte budget.");
        _diagnosticSteps = _meter.CreateCounter<long>("mailgrpc.diagnose.steps", "{step}", "DiagnoseMailbox steps by step, outcome and reason.");
    }

    /// <summary>For spans around POP3 sessions, refreshes and diagnostics.</summary>
    public static ActivitySource ActivitySource { get; } = new(ActivitySourceName);

    /// <summary>
    /// A refresh finished with <paramref name="outcome"/> (<see cref="RefreshSuccess"/>, <see cref="RefreshFailure"/>,
    /// <see cref="RefreshDeferred"/>). <paramref name="reason"/> is the trigger of a success and the stable reason code of a
    /// failure (e.g. <c>INVALID_GRANT</c>).
    /// </summary>
    public void TokenRefreshed(string outcome, string reason) =>
        _refreshes.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("reason", reason));

    /// <summary>A mailbox's access token now expires at <paramref name="expiresAt"/> (after a refresh or an import).</summary>
    public void TokenExpiryChanged(string tenant, string mailboxId, DateTimeOffset expiresAt) => _tokenExpiries[(tenant, mailboxId)] = expiresAt;

    /// <summary>A mailbox no longer has a token (revoked, deleted, re-authorization required).</summary>
    public void TokenForgotten(string tenant, string mailboxId) => _tokenExpiries.TryRemove((tenant, mailboxId), out _);

    /// <summary>One message (summary, chunks, end) was sent in full by <paramref name="rpc"/>.</summary>
    public void MessageStreamed(string rpc, long bytes)
    {
        var tag = new KeyValuePair<string, object?>("rpc", rpc);
        _messagesStreamed.Add(1, tag);
        _bytesStreamed.Add(bytes, tag);
    }

    public void Pop3SessionEnded(TimeSpan duration, string outcome) =>
        _pop3SessionDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));

    public void LeaseWaited(TimeSpan waited, string outcome) =>
        _leaseWait.Record(waited.TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));

    public void ByteBudgetReserved(long bytes) => _byteBudgetInUse.Add(bytes);

    public void ByteBudgetReleased(long bytes) => _byteBudgetInUse.Add(-bytes);

    public void DiagnosticStepCompleted(string step, string outcome, string reason) =>
        _diagnosticSteps.Add(1, new KeyValuePair<string, object?>("step", step), new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("reason", reason));

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<double>> ObserveTokenExpiries()
    {
        var now = _time.GetUtcNow();
        foreach (var ((tenant, mailbox), expiresAt) in _tokenExpiries)
        {
            if (now - expiresAt > StaleExpiry)
            {
                _tokenExpiries.TryRemove(new KeyValuePair<(string, string), DateTimeOffset>((tenant, mailbox), expiresAt));
                continue;
            }

            yield return new Measurement<double>(
                Math.Round((expiresAt - now).TotalSeconds),
                new KeyValuePair<string, object?>("tenant", tenant),
                new KeyValuePair<string, object?>("mailbox", mailbox));
        }
    }
}
