using System.Diagnostics.Metrics;

namespace MailGrpc.Server.Webhooks;

/// <summary>
/// Webhook delivery metrics on the <c>MailGrpc</c> meter: deliveries, failed attempts by status (the HTTP status code, or
/// the failure without a response: <c>timeout</c>, <c>connect_failed</c>, <c>WEBHOOK_URL_NOT_ALLOWED</c>, …), dead
/// letters, and latency from the event's append to its delivery. No URL, tenant or secret in a tag.
/// </summary>
internal sealed class WebhookMetrics
{
    private readonly Counter<long> _delivered;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _deadLettered;
    private readonly Histogram<double> _latency;
    private readonly Histogram<double> _attemptDuration;

    public WebhookMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Telemetry.MailGrpcMetrics.MeterName);
        _delivered = meter.CreateCounter<long>("mailgrpc.webhooks.delivered", "{event}", "Events a webhook endpoint confirmed (2xx).");
        _failed = meter.CreateCounter<long>("mailgrpc.webhooks.failed", "{attempt}", "Failed delivery attempts, by status (HTTP status code or the failure without a response).");
        _deadLettered = meter.CreateCounter<long>("mailgrpc.webhooks.dead_lettered", "{event}", "Events given up after MailGrpc:Webhooks:MaxAge and dead-lettered.");
        _latency = meter.CreateHistogram<double>("mailgrpc.webhooks.latency", "s", "From an event's append to its confirmed delivery.");
        _attemptDuration = meter.CreateHistogram<double>("mailgrpc.webhooks.attempt.duration", "s", "One POST, from connect to response headers, by outcome.");
    }

    public void Delivered(TimeSpan latency)
    {
        _delivered.Add(1);
        _latency.Record(Math.Max(0, latency.TotalSeconds));
    }

    public void Failed(string status) => _failed.Add(1, new KeyValuePair<string, object?>("status", status));

    public void DeadLettered() => _deadLettered.Add(1);

    public void Attempt(TimeSpan duration, bool success) =>
        _attemptDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("outcome", success ? "success" : "failure"));
}
