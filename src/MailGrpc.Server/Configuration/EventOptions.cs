using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Configuration;

/// <summary>The tenant event feed: retention and how subscriptions read it (section <c>MailGrpc:Events</c>; docs/events.md).</summary>
internal sealed class EventOptions
{
    public const string SectionName = "MailGrpc:Events";

    /// <summary>Events older than this are trimmed from the tenant's stream, acknowledged or not.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>A cap on each tenant stream's length on top of the retention (approximate trim).</summary>
    public long MaxEntries { get; set; } = 1_000_000;

    /// <summary>The default time an event given to a consumer may stay unacknowledged before another consumer gets it.</summary>
    public TimeSpan VisibilityTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often an idle subscription or webhook worker looks for new events (StackExchange.Redis multiplexes one
    /// connection, so it cannot block in XREADGROUP): the most the feed adds to an event's latency.
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Events read from Redis per XREADGROUP / XAUTOCLAIM.</summary>
    public int BatchSize { get; set; } = 100;

    public IEnumerable<string> Validate()
    {
        const string p = "MailGrpc:Events:";
        if (Retention < TimeSpan.FromMinutes(1)) yield return p + "Retention must be at least 1 minute.";
        if (MaxEntries < 1000) yield return p + "MaxEntries must be at least 1000.";
        if (VisibilityTimeout < TimeSpan.FromSeconds(1) || VisibilityTimeout > TimeSpan.FromHours(12)) yield return p + "VisibilityTimeout must be between 1 second and 12 hours.";
        if (PollInterval < TimeSpan.FromMilliseconds(10) || PollInterval > TimeSpan.FromSeconds(10)) yield return p + "PollInterval must be between 10 ms and 10 s.";
        if (BatchSize is < 1 or > 1000) yield return p + "BatchSize must be between 1 and 1000.";
    }
}

internal sealed class EventOptionsValidator : IValidateOptions<EventOptions>
{
    public ValidateOptionsResult Validate(string? name, EventOptions options) => OptionsValidation.Result([.. options.Validate()]);
}
