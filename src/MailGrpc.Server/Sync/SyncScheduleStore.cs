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

    /// <summary>
    /// A replica with watchers of a member: its watch demand lasts at least until <paramref name="until"/> (never shortened).
    /// When the demand is new (absent or lapsed) the member is due by <paramref name="dueBy"/> (moved earlier, or added);
    /// when it is a renewal it is only added if absent, so a renewal never moves a claimed entry.
    /// </summary>
    Task DemandWatchAsync(int shard, string member, DateTimeOffset until, DateTimeOffset now, DateTimeOffset dueBy, CancellationToken cancellationToken);

    /// <summary>Whether a replica's watch demand for the member lasts past <paramref name="now"/>.</summary>
    Task<bool> IsWatchedAsync(int shard, string member, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// After a poll: the member is next due at <paramref name="syncDue"/> (null: sync does not need it), or at
    /// <paramref name="watchDue"/> if earlier while its watch demand lasts past <paramref name="now"/> (a lapsed demand is
    /// dropped). Due at neither: it leaves the schedule. Only an entry still scheduled is re-scored (a delete meanwhile wins).
    /// Returns whether it is still scheduled.
    /// </summary>
    Task<bool> FinishPollAsync(int shard, string member, DateTimeOffset? syncDue, DateTimeOffset now, DateTimeOffset watchDue, CancellationToken cancellationToken);

    /// <summary>Removes a member whose sync was turned off, unless it is watched (then it stays as it is).</summary>
    Task RemoveUnlessWatchedAsync(int shard, string member, DateTimeOffset now, CancellationToken cancellationToken);
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

    // KEYS[1] due set, KEYS[2] watch demand set (same hash tag); ARGV[1] member, ARGV[2] until, ARGV[3] now, ARGV[4] due by.
    private const string DemandScript = """
        local had = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
        redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[1])
        if (not had) or had <= tonumber(ARGV[3]) then
          redis.call('ZADD', KEYS[1], 'LT', ARGV[4], ARGV[1])
        else
          redis.call('ZADD', KEYS[1], 'NX', ARGV[4], ARGV[1])
        end
        return 1
        """;

    // KEYS[1] due set, KEYS[2] watch demand set; ARGV[1] member, ARGV[2] sync due ('' = none), ARGV[3] now, ARGV[4] watch due.
    private const string FinishScript = """
        local nextDue = nil
        if ARGV[2] ~= '' then nextDue = tonumber(ARGV[2]) end
        local watched = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
        if watched then
          if watched > tonumber(ARGV[3]) then
            local w = tonumber(ARGV[4])
            if (not nextDue) or w < nextDue then nextDue = w end
          else
            redis.call('ZREM', KEYS[2], ARGV[1])
          end
        end
        if nextDue then
          redis.call('ZADD', KEYS[1], 'XX', nextDue, ARGV[1])
          return 1
        end
        redis.call('ZREM', KEYS[1], ARGV[1])
        return 0
        """;

    // KEYS[1] due set, KEYS[2] watch demand set; ARGV[1] member, ARGV[2] now.
    private const string RemoveUnlessWatchedScript = """
        local watched = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
        if watched and watched > tonumber(ARGV[2]) then return 0 end
        redis.call('ZREM', KEYS[1], ARGV[1])
        return 1
        """;

    private IDatabase Db => redis.GetDatabase();

    public Task DemandWatchAsync(int shard, string member, DateTimeOffset until, DateTimeOffset now, DateTimeOffset dueBy, CancellationToken cancellationToken) =>
        Db.ScriptEvaluateAsync(
            DemandScript,
            [SyncKeys.Due(schedule, shard), SyncKeys.Watched(schedule, shard)],
            [member, until.ToUnixTimeMilliseconds(), now.ToUnixTimeMilliseconds(), dueBy.ToUnixTimeMilliseconds()]);

    public async Task<bool> IsWatchedAsync(int shard, string member, DateTimeOffset now, CancellationToken cancellationToken) =>
        await Db.SortedSetScoreAsync(SyncKeys.Watched(schedule, shard), member).ConfigureAwait(false) is { } until && until > now.ToUnixTimeMilliseconds();

    public async Task<bool> FinishPollAsync(int shard, string member, DateTimeOffset? syncDue, DateTimeOffset now, DateTimeOffset watchDue, CancellationToken cancellationToken)
    {
        var result = await Db.ScriptEvaluateAsync(
            FinishScript,
            [SyncKeys.Due(schedule, shard), SyncKeys.Watched(schedule, shard)],
            [member, syncDue is { } due ? due.ToUnixTimeMilliseconds() : string.Empty, now.ToUnixTimeMilliseconds(), watchDue.ToUnixTimeMilliseconds()]).ConfigureAwait(false);
        return (int)result == 1;
    }

    public Task RemoveUnlessWatchedAsync(int shard, string member, DateTimeOffset now, CancellationToken cancellationToken) =>
        Db.ScriptEvaluateAsync(RemoveUnlessWatchedScript, [SyncKeys.Due(schedule, shard), SyncKeys.Watched(schedule, shard)], [member, now.ToUnixTimeMilliseconds()]);

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
    private readonly Dictionary<int, Dictionary<string, long>> _watched = [];

    public Task DemandWatchAsync(int shard, string member, DateTimeOffset until, DateTimeOffset now, DateTimeOffset dueBy, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var watched = Watched(shard);
            var fresh = !watched.TryGetValue(member, out var had) || had <= now.ToUnixTimeMilliseconds();
            watched[member] = Math.Max(fresh ? long.MinValue : had, until.ToUnixTimeMilliseconds());
            var set = Shard(shard);
            var ms = dueBy.ToUnixTimeMilliseconds();
            if (!set.TryGetValue(member, out var current))
            {
                set[member] = ms;
            }
            else if (fresh && ms < current)
            {
                set[member] = ms;
            }
        }

        return Task.CompletedTask;
    }

    public Task<bool> IsWatchedAsync(int shard, string member, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(Watched(shard).TryGetValue(member, out var until) && until > now.ToUnixTimeMilliseconds());
        }
    }

    public Task<bool> FinishPollAsync(int shard, string member, DateTimeOffset? syncDue, DateTimeOffset now, DateTimeOffset watchDue, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var next = syncDue?.ToUnixTimeMilliseconds();
            var watched = Watched(shard);
            if (watched.TryGetValue(member, out var until))
            {
                if (until > now.ToUnixTimeMilliseconds())
                {
                    next = next is { } n ? Math.Min(n, watchDue.ToUnixTimeMilliseconds()) : watchDue.ToUnixTimeMilliseconds();
                }
                else
                {
                    watched.Remove(member);
                }
            }

            var set = Shard(shard);
            if (next is { } due)
            {
                if (set.ContainsKey(member))
                {
                    set[member] = due;
                }

                return Task.FromResult(true);
            }

            set.Remove(member);
            return Task.FromResult(false);
        }
    }

    public Task RemoveUnlessWatchedAsync(int shard, string member, DateTimeOffset now, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!(Watched(shard).TryGetValue(member, out var until) && until > now.ToUnixTimeMilliseconds()))
            {
                Shard(shard).Remove(member);
            }
        }

        return Task.CompletedTask;
    }

    private Dictionary<string, long> Watched(int shard)
    {
        if (!_watched.TryGetValue(shard, out var set))
        {
            set = new Dictionary<string, long>(StringComparer.Ordinal);
            _watched[shard] = set;
        }

        return set;
    }

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
