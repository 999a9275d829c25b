using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Configuration;

/// <summary>The sync engine (section <c>MailGrpc:Sync</c>; docs/sync.md). Off unless <see cref="Enabled"/> is set.</summary>
internal sealed class SyncOptions
{
    public const string SectionName = "MailGrpc:Sync";

    /// <summary>The longest interval a mailbox may ask for.</summary>
    public static readonly TimeSpan MaxInterval = TimeSpan.FromDays(1);

    /// <summary>
    /// Run the sync engine on this replica (and keep the schedule up to date on mailbox changes). Off by default, so an
    /// existing deployment changes nothing until it opts in; set it on every replica.
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>Whether a mailbox whose own <c>sync.enabled</c> is left out is synced (the tenant default).</summary>
    public bool EnabledByDefault { get; set; } = true;

    /// <summary>The interval of a mailbox whose own <c>sync.interval</c> is left out.</summary>
    public TimeSpan DefaultInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The shortest interval a mailbox may ask for.</summary>
    public TimeSpan MinInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a replica owns a mailbox it claimed for a poll. A replica that dies mid-poll loses its claimed mailboxes
    /// to the others after at most this (the takeover bound); a poll that runs longer is cancelled. Keep it above
    /// <c>Pop3:ConnectTimeout</c> + a listing and the TOPs of a poll.
    /// </summary>
    public TimeSpan ClaimTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Polls one replica runs at once (its poll slots); a replica claims at most its free slots.</summary>
    public int MaxConcurrentPolls { get; set; } = 64;

    /// <summary>Due mailboxes claimed per Redis round trip and shard.</summary>
    public int ClaimBatchSize { get; set; } = 16;

    /// <summary>How often an idle replica looks for due mailboxes.</summary>
    public TimeSpan IdleWait { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The schedule's shards (hash-tagged sorted sets <c>mailgrpc:{sync:&lt;n&gt;}:due</c>, spread over Redis Cluster
    /// slots). Set it once: every replica must use the same number.
    /// </summary>
    public int Shards { get; set; } = 16;

    /// <summary>
    /// The schedule's name: its shards are <c>mailgrpc:{&lt;Schedule&gt;:&lt;n&gt;}:due</c>. Replicas with the same name share
    /// the work; another name is a separate fleet on the same Redis (and keeps test runs apart). 1-32 of a-z 0-9 -.
    /// </summary>
    public string Schedule { get; set; } = "sync";

    /// <summary>The longest back-off after failed polls (the interval doubles per consecutive failure up to this).</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// On a mailbox's first poll, emit <c>message.arrived</c> for the mail it already holds. Off: the first poll only
    /// records the uids it finds (docs/sync.md, "First poll").
    /// </summary>
    public bool EmitExistingOnFirstPoll { get; set; }

    /// <summary>Readiness reports Degraded when the poll lag's p99 over the last minute exceeds the default interval.</summary>
    public bool LagAffectsReadiness { get; set; } = true;

    /// <summary>The effective interval of a mailbox's own setting (null: the default).</summary>
    public TimeSpan IntervalFor(TimeSpan? own) => own ?? DefaultInterval;

    /// <summary>Whether a mailbox's own setting (null: the default) makes it synced.</summary>
    public bool EnabledFor(bool? own) => own ?? EnabledByDefault;
}

/// <summary>Checks <c>MailGrpc:Sync</c> at start.</summary>
internal sealed class SyncOptionsValidator : IValidateOptions<SyncOptions>
{
    public ValidateOptionsResult Validate(string? name, SyncOptions options)
    {
        var failures = new List<string>();
        if (options.MinInterval < TimeSpan.FromSeconds(1) || options.MinInterval > SyncOptions.MaxInterval)
        {
            failures.Add("MailGrpc:Sync:MinInterval must be from 1 second to 1 day. Fix: e.g. MinInterval=00:00:10.");
        }

        if (options.DefaultInterval < options.MinInterval || options.DefaultInterval > SyncOptions.MaxInterval)
        {
            failures.Add("MailGrpc:Sync:DefaultInterval must be from MinInterval to 1 day. Fix: e.g. DefaultInterval=00:01:00.");
        }

        if (options.ClaimTimeout < TimeSpan.FromSeconds(5) || options.ClaimTimeout > TimeSpan.FromHours(1))
        {
            failures.Add("MailGrpc:Sync:ClaimTimeout must be from 5 seconds to 1 hour. Fix: e.g. ClaimTimeout=00:01:00.");
        }

        if (options.MaxConcurrentPolls is < 1 or > 10_000 || options.ClaimBatchSize is < 1 or > 1000 || options.Shards is < 1 or > 1024)
        {
            failures.Add("MailGrpc:Sync: MaxConcurrentPolls must be 1-10000, ClaimBatchSize 1-1000, Shards 1-1024.");
        }

        if (!System.Text.RegularExpressions.Regex.IsMatch(options.Schedule, "^[a-z0-9-]{1,32}$"))
        {
            failures.Add("MailGrpc:Sync:Schedule must be 1-32 characters of a-z 0-9 -. Fix: e.g. Schedule=sync.");
        }

        if (options.IdleWait <= TimeSpan.Zero || options.IdleWait > TimeSpan.FromMinutes(1) || options.MaxBackoff < options.DefaultInterval)
        {
            failures.Add("MailGrpc:Sync: IdleWait must be positive and at most 1 minute; MaxBackoff at least DefaultInterval.");
        }

        return OptionsValidation.Result(failures);
    }
}
