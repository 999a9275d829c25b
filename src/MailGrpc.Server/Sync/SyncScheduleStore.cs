using System.Globalization;
using StackExchange.Redis;

namespace MailGrpc.Server.Sync;

/// <summary>A due mailbox a replica claimed: its member and when it was due.</summary>
internal readonly record struct ClaimedEntry(string Member, DateTimeOffset DueAt);

/// <summary>
/// The schedule: per shard, members scored by when they are next due. A claim takes due members and re-scores them to
/// the claim's deadline in one atomic step, so two replicas never claim one member at once, and a claim whose replica died
/// is due again at its deadline.
/// </summary>
internal interface ISyncScheduleStore
{
    /// <summary>Takes up to <paramref name="max"/> members of <paramref name="shard"/> due at <paramref name="now"/> and re-scores them to <paramref name="claimDeadline"/>.</summary>
    Task<IReadOnlyList<ClaimedEntry>> ClaimAsync(int shard, DateTimeOffset now, DateTimeOffset claimDeadline, int max, CancellationToken cancellationToken);

    /// <summary>Sets when a member is next due, only if it is still scheduled (a delete meanwhile wins).</summary>
    Task RescheduleAsync(int shard, string member, DateTimeOffset dueAt, CancellationToken cancellationToken);

    /// <summary>Adds a member, or moves it earlier (never later) when it is already scheduled.</summary>
    Task UpsertAsync(int shard, string member, DateTimeOffset dueAt, CancellationToken cancellationToken);

    /// <summary>Adds a member only when it is not scheduled.</summary>
    Task AddIfAbsentAsync(int shard, string member, DateTimeOffset dueAt, CancellationToken cancellationToken);

    Task RemoveAsync(int shard, string member, CancellationToken cancellationToken);

    /// <summary>Members of a shard due at <paramref name="now"/> and not claimed.</summary>
    Task<long> CountDueAsync(int shard, DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>The schedule on Redis: one sorted set per shard; every command (and the claim script) names one key.</summary>
internal sealed class RedisSyncScheduleStore(IConnectionMultiplexer redis, string schedule) : ISyncScheduleStore
{
    // KEYS[1] due set; ARGV[1] now (ms), ARGV[2] max, ARGV[3] claim deadline (ms). Returns member, score, member, score …
    private const string ClaimScript = """
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
        for i = 1, #due, 2 do
          redis.call('ZADD', KEYS[1], 'XX', ARGV[3], due[i])
        end
        return due
        """;

    private IDatabase Db => redis.GetDatabase();

    public async Task<IReadOnlyList<ClaimedEntry>> ClaimAsync(int shard, DateTimeOffset now, DateTimeOffset claimDeadline, int max, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var result = await Db.ScriptEvaluateAsync(
            ClaimScript,
            [SyncKeys.Due(schedule, shard)],
            [now.ToUnixTimeMilliseconds(), max, claimDeadline.ToUnixTimeMilliseconds()]).ConfigureAwait(false);
        var values = (RedisResult[])result!;
        var claimed = new ClaimedEntry[values.Length / 2];
        for (var i = 0; i < claimed.Length; i++)
        {
            var score = double.Parse(values[(2 * i) + 1].ToString(), NumberStyles.Float, CultureInfo.InvariantCulture);
            claimed[i] = new ClaimedEntry(values[2 * i].ToString(), DateTimeOffset.FromUnixTimeMilliseconds((long)score));
        }

        return claimed;
    }

    public Task RescheduleAsync(int shard, string member, DateTimeOffset dueAt, CancellationToken cancellationToken) =>
        Db.SortedSetAddAsync(SyncKeys.Due(schedule, shard), member, dueAt.ToUnixTimeMilliseconds(), SortedSetWhen.Exists);

    public Task UpsertAsync(int shard, string member, DateTimeOffset dueAt, CancellationToken cancellationToken) =>
        Db.SortedSetAddAsync(SyncKeys.Due(schedule, shard), member, dueAt.ToUnixTimeMilliseconds(), SortedSetWhen.LessThan);

    public Task AddIfAbsentAsync(int shard, string member, DateTimeOffset dueAt, CancellationToken cancellationToken) =>
        Db.SortedSetAddAsync(SyncKeys.Due(schedule, shard), member, dueAt.ToUnixTimeMilliseconds(), SortedSetWhen.NotExists);

    public Task RemoveAsync(int shard, string member, CancellationToken cancellationToken) =>
        Db.SortedSetRemoveAsync(SyncKeys.Due(schedule, shard), member);

    public Task<long> CountDueAsync(int shard, DateTimeOffset now, CancellationToken cancellationToken) =>
        Db.SortedSetLengthAsync(SyncKeys.Due(schedule, shard), double.NegativeInfinity, now.ToUnixTimeMilliseconds());
}

/// <summary>The schedule in process memory (the embedded store, fast tests): same rules, one lock.</summary>
internal sealed class InMemorySyncScheduleStore : ISyncScheduleStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, Dictionary<string, long>> _shards = [];

    public Task<IReadOnlyList<ClaimedEntry>> ClaimAsync(int shard, DateTimeOffset now, DateTimeOffset claimDeadline, int max, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var set = Shard(shard);
            var due = set.Where(e => e.Value <= now.ToUnixTimeMilliseconds()).OrderBy(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal).Take(max).ToArray();
            foreach (var entry in due)
            {
                set[entry.Key] = claimDeadline.ToUnixTimeMilliseconds();
            }

            return Task.FromResult<IReadOnlyList<ClaimedEntry>>(due.Select(e => new ClaimedEntry(e.Key, DateTimeOffset.FromUnixTimeMilliseconds(e.Value))).ToArray());
        }
    }

    public Task RescheduleAsync(int shard, string member, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var set = Shard(shard);
            if (set.ContainsKey(member))
            {
                set[member] = dueAt.ToUnixTimeMilliseconds();
            }
        }

        return Task.CompletedTask;
    }

    public Task UpsertAsync(int shard, string member, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var set = Shard(shard);
            var ms = dueAt.ToUnixTimeMilliseconds();
            set[member] = set.TryGetValue(member, out var current) ? Math.Min(current, ms) : ms;
        }

        return Task.CompletedTask;
    }

    public Task AddIfAbsentAsync(int shard, string member, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Shard(shard).TryAdd(member, dueAt.ToUnixTimeMilliseconds());
        }

        return Task.CompletedTask;
    }

    public Task RemoveAsync(int shard, string member, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            Shard(shard).Remove(member);
        }

        return Task.CompletedTask;
    }

    public Task<long> CountDueAsync(int shard, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult((long)Shard(shard).Count(e => e.Value <= now.ToUnixTimeMilliseconds()));
        }
    }

    /// <summary>When a member is next due (null: not scheduled); for tests.</summary>
    public DateTimeOffset? DueAt(int shard, string member)
    {
        lock (_lock)
        {
            return Shard(shard).TryGetValue(member, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
        }
    }

    private Dictionary<string, long> Shard(int shard)
    {
        if (!_shards.TryGetValue(shard, out var set))
        {
            set = new Dictionary<string, long>(StringComparer.Ordinal);
            _shards[shard] = set;
        }

        return set;
    }
}
