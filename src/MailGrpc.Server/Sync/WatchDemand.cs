using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Sync;

/// <summary>
/// WatchMessages on the sync engine (Redis store): a replica with watchers of a mailbox keeps a watch demand for it in the
/// schedule (<see cref="SyncKeys.Watched"/>, renewed every poll interval, lapsing <see cref="DemandTime"/> after its last
/// renewal, so a dead replica's demand goes away on its own). While any replica's demand lasts, the engine keeps the mailbox
/// due every <see cref="Pop3Options.PollInterval"/> and its poll publishes the listing (<see cref="IWatchListingStore"/>):
/// one UIDL poll per interval in the whole deployment, however many replicas watch it. With the embedded store
/// (<see cref="Deployed"/> false) every process polls its watched mailboxes itself.
/// </summary>
internal sealed class WatchDemand(ISyncScheduleStore store, IWatchListingStore? listings, IOptions<SyncOptions> sync, IOptions<Pop3Options> pop3, TimeProvider time)
{
    private int _localMailboxes;

    /// <summary>Whether watched mailboxes are polled by the engine (Redis), not by each process.</summary>
    public bool Deployed => listings is not null;

    public IWatchListingStore Listings => listings ?? throw new InvalidOperationException("watch listings need the Redis store");

    /// <summary>The watch poll interval (<c>MailGrpc:Pop3:PollInterval</c>).</summary>
    public TimeSpan Interval => pop3.Value.PollInterval;

    /// <summary>How long a demand lasts without renewal: three intervals, at least 5 s (a replica renews every interval).</summary>
    public TimeSpan DemandTime => TimeSpan.FromTicks(Math.Max(3 * Interval.Ticks, TimeSpan.FromSeconds(5).Ticks));

    /// <summary>How long a published listing is kept without a poll (then a replica that reads it sees none).</summary>
    public TimeSpan ListingTime => TimeSpan.FromTicks(Math.Max(10 * Interval.Ticks, TimeSpan.FromMinutes(1).Ticks));

    /// <summary>How often a replica with watchers looks at the published version: a quarter interval, 100 ms to 1 s.</summary>
    public TimeSpan CheckEvery => TimeSpan.FromTicks(Math.Clamp(Interval.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(1).Ticks));

    /// <summary>Whether this replica has watchers (then its engine claims due mailboxes even with sync off).</summary>
    public bool HasLocalWatches => Volatile.Read(ref _localMailboxes) > 0;

    public void Started() => Interlocked.Increment(ref _localMailboxes);

    public void Stopped() => Interlocked.Decrement(ref _localMailboxes);

    private int ShardOf(string member) => SyncKeys.Shard(member, sync.Value.Shards);

    /// <summary>Renews this replica's demand; a new demand makes the mailbox due within one interval.</summary>
    public Task RenewAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var member = SyncKeys.Member(tenant, mailboxId);
        var now = time.GetUtcNow();
        return store.DemandWatchAsync(ShardOf(member), member, now + DemandTime, now, now + Interval, cancellationToken);
    }

    public Task<bool> IsWatchedAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var member = SyncKeys.Member(tenant, mailboxId);
        return store.IsWatchedAsync(ShardOf(member), member, time.GetUtcNow(), cancellationToken);
    }
}
