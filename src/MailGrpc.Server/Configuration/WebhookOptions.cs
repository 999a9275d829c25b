using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Configuration;

/// <summary>Webhook delivery: retries, bounds and the SSRF policy for webhook URLs (section <c>MailGrpc:Webhooks</c>; docs/webhooks.md).</summary>
internal sealed class WebhookOptions
{
    public const string SectionName = "MailGrpc:Webhooks";

    /// <summary>How long after an event was appended its delivery is retried; then it is dead-lettered.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>One POST: connect, send and the response headers.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The first retry's backoff ceiling; each further retry doubles it (full jitter: a random delay up to the ceiling).</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The backoff ceiling's cap.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>POSTs in flight per endpoint (across its mailboxes; one mailbox has at most one).</summary>
    public int MaxConcurrencyPerEndpoint { get; set; } = 8;

    /// <summary>Events an endpoint's worker holds read and undelivered (waiting behind their mailbox's earlier events or retrying).</summary>
    public int MaxBufferedPerEndpoint { get; set; } = 1000;

    /// <summary>
    /// Events one mailbox may hold of its endpoint's buffer. Its later events stay pending in the endpoint's group (in
    /// Redis, not in memory) and are read again, in order, once half of these are done: a mailbox whose events keep failing cannot fill the buffer and stall the others.
    /// </summary>
    public int MaxBufferedPerMailbox { get; set; } = 20;

    /// <summary>
    /// The lease on delivering an endpoint: one replica delivers an endpoint at a time (so its per-mailbox order holds
    /// across replicas); a dead replica's endpoints go to another within this time. Renewed every third of it.
    /// </summary>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often a replica looks for endpoints created, changed, deleted or left without a live lease holder.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>After a rotation, how long the previous secret still signs (a second signature).</summary>
    public TimeSpan SecretRotationOverlap { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Endpoints per tenant.</summary>
    public int MaxEndpointsPerTenant { get; set; } = 50;

    /// <summary>Dead letters kept per endpoint (the oldest go first).</summary>
    public long MaxDeadLetters { get; set; } = 10_000;

    /// <summary>Bytes of a response body read (and discarded) before the connection is released; never logged.</summary>
    public int MaxResponseBodyBytes { get; set; } = 4096;

    /// <summary>
    /// Allows <c>http://</c> URLs and loopback addresses (127.0.0.0/8, ::1, <c>localhost</c>) — for tests and local
    /// development only; private and metadata addresses stay refused.
    /// </summary>
    public bool AllowInsecureLoopback { get; set; }

    /// <summary>Host names or IP addresses exempt from the private-address refusal (on-premises receivers); https still required.</summary>
    public List<string> AllowedHosts { get; set; } = [];

    public IEnumerable<string> Validate()
    {
        const string p = "MailGrpc:Webhooks:";
        if (MaxAge < TimeSpan.FromSeconds(1) || MaxAge > TimeSpan.FromDays(30)) yield return p + "MaxAge must be between 1 second and 30 days.";
        if (AttemptTimeout < TimeSpan.FromMilliseconds(100) || AttemptTimeout > TimeSpan.FromMinutes(2)) yield return p + "AttemptTimeout must be between 100 ms and 2 minutes.";
        if (InitialBackoff < TimeSpan.FromMilliseconds(1) || InitialBackoff > MaxBackoff) yield return p + "InitialBackoff must be at least 1 ms and at most MaxBackoff.";
        if (MaxBackoff > TimeSpan.FromHours(6)) yield return p + "MaxBackoff must be at most 6 hours.";
        if (MaxConcurrencyPerEndpoint is < 1 or > 256) yield return p + "MaxConcurrencyPerEndpoint must be between 1 and 256.";
        if (MaxBufferedPerEndpoint < MaxConcurrencyPerEndpoint || MaxBufferedPerEndpoint > 100_000) yield return p + "MaxBufferedPerEndpoint must be at least MaxConcurrencyPerEndpoint and at most 100000.";
        if (MaxBufferedPerMailbox < 1 || MaxBufferedPerMailbox > MaxBufferedPerEndpoint) yield return p + "MaxBufferedPerMailbox must be at least 1 and at most MaxBufferedPerEndpoint.";
        if (LeaseTime < TimeSpan.FromSeconds(1) || LeaseTime > TimeSpan.FromMinutes(10)) yield return p + "LeaseTime must be between 1 second and 10 minutes.";
        if (RefreshInterval < TimeSpan.FromMilliseconds(50) || RefreshInterval > TimeSpan.FromMinutes(1)) yield return p + "RefreshInterval must be between 50 ms and 1 minute.";
        if (SecretRotationOverlap < TimeSpan.Zero || SecretRotationOverlap > TimeSpan.FromDays(30)) yield return p + "SecretRotationOverlap must be between 0 and 30 days.";
        if (MaxEndpointsPerTenant is < 1 or > 10_000) yield return p + "MaxEndpointsPerTenant must be between 1 and 10000.";
        if (MaxDeadLetters is < 100 or > 10_000_000) yield return p + "MaxDeadLetters must be between 100 and 10000000.";
        if (MaxResponseBodyBytes is < 0 or > 1024 * 1024) yield return p + "MaxResponseBodyBytes must be between 0 and 1 MiB.";
    }
}

internal sealed class WebhookOptionsValidator : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions options) => OptionsValidation.Result([.. options.Validate()]);
}
