using StackExchange.Redis;

namespace MailGrpc.Server.Sync;

/// <summary>
/// A mailbox's listing as the engine last published it for watchers: a version that changes with the uids. <paramref name="Failed"/>:
/// the last poll failed in a way that ends watches (each replica then lists the mailbox itself, which ends its watches with
/// that error if it persists).
/// </summary>
internal sealed record WatchListing(long Version, IReadOnlyList<string> Uids, bool Failed = false);

/// <summary>
/// Where the engine's poll of a watched mailbox leaves its listing for every replica that has watchers of it
/// (<see cref="SyncKeys.WatchListing"/>, a hash in the mailbox's slot). Replicas read the version often and the uids only
/// when it changed.
/// </summary>
internal interface IWatchListingStore
{
    /// <summary>Stores the listing (a new version only when the uids differ) and keeps it for <paramref name="keep"/>.</summary>
    Task PublishAsync(string tenant, string mailboxId, IReadOnlyList<string> uids, TimeSpan keep, CancellationToken cancellationToken);

    /// <summary>Marks the listing failed under a new version (the uids stay as they were).</summary>
    Task PublishFailureAsync(string tenant, string mailboxId, TimeSpan keep, CancellationToken cancellationToken);

    /// <summary>The published version (0: none); versions are only compared for equality.</summary>
    Task<long> VersionAsync(string tenant, string mailboxId, CancellationToken cancellationToken);

    /// <summary>The published listing; null when there is none.</summary>
    Task<WatchListing?> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken);
}

/// <summary>The published listings on Redis: one script per publish (compare, new version, TTL), one HGET per look.</summary>
internal sealed class RedisWatchListingStore(IConnectionMultiplexer redis) : IWatchListingStore
{
    private const string UidsField = "uids";
    private const string VersionField = "v";
    private const string FailedField = "failed";

    // KEYS[1] listing hash; ARGV[1] uids (newline-separated), ARGV[2] TTL (ms), ARGV[3] a fresh random version (a listing
    // that expired and comes back never reuses a version a replica remembers).
    private const string PublishScript = """
        if redis.call('HGET', KEYS[1], 'uids') ~= ARGV[1] then
          redis.call('HSET', KEYS[1], 'uids', ARGV[1], 'v', ARGV[3])
        end
        redis.call('HDEL', KEYS[1], 'failed')
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return 1
        """;

    // KEYS[1] listing hash; ARGV[1] TTL (ms), ARGV[2] a fresh random version.
    private const string FailureScript = """
        redis.call('HSET', KEYS[1], 'failed', '1', 'v', ARGV[2])
        if not redis.call('HGET', KEYS[1], 'uids') then redis.call('HSET', KEYS[1], 'uids', '') end
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        return 1
        """;

    private IDatabase Db => redis.GetDatabase();

    public Task PublishAsync(string tenant, string mailboxId, IReadOnlyList<string> uids, TimeSpan keep, CancellationToken cancellationToken) =>
        Db.ScriptEvaluateAsync(PublishScript, [SyncKeys.WatchListing(tenant, mailboxId)], [string.Join('\n', uids), (long)keep.TotalMilliseconds, Random.Shared.NextInt64(1, long.MaxValue)]);

    public Task PublishFailureAsync(string tenant, string mailboxId, TimeSpan keep, CancellationToken cancellationToken) =>
        Db.ScriptEvaluateAsync(FailureScript, [SyncKeys.WatchListing(tenant, mailboxId)], [(long)keep.TotalMilliseconds, Random.Shared.NextInt64(1, long.MaxValue)]);

    public async Task<long> VersionAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var value = await Db.HashGetAsync(SyncKeys.WatchListing(tenant, mailboxId), VersionField).ConfigureAwait(false);
        return value.IsNull ? 0 : (long)value;
    }

    public async Task<WatchListing?> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var values = await Db.HashGetAsync(SyncKeys.WatchListing(tenant, mailboxId), [VersionField, UidsField, FailedField]).ConfigureAwait(false);
        if (values[0].IsNull || values[1].IsNull)
        {
            return null;
        }

        var uids = values[1].ToString();
        return new WatchListing((long)values[0], uids.Length == 0 ? [] : uids.Split('\n'), !values[2].IsNull);
    }
}
