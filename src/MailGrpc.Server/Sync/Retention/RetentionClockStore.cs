using System.Collections.Concurrent;
using System.Globalization;
using StackExchange.Redis;

namespace MailGrpc.Server.Sync.Retention;

/// <summary>
/// When each uid of a mailbox was first seen acknowledged by every required consumer (the retention clock). Read and
/// written only by the poll that holds the mailbox's lease.
/// </summary>
internal interface IRetentionClockStore
{
    Task<IReadOnlyDictionary<string, DateTimeOffset>> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken);

    Task UpdateAsync(string tenant, string mailboxId, IReadOnlyDictionary<string, DateTimeOffset> started, IReadOnlyList<string> stopped, CancellationToken cancellationToken);
}

/// <summary>
/// The clock on Redis: one hash <c>mailgrpc:{mbx:&lt;tenant&gt;:&lt;id&gt;}:retention</c> under the mailbox's hash tag, field = uid,
/// value = Unix milliseconds. Deleting the mailbox removes it with its other keys; it also expires <see cref="Lifetime"/> after
/// its last write as a backstop. A clock lost that way only starts again later (never earlier).
/// </summary>
internal sealed class RedisRetentionClockStore(IConnectionMultiplexer redis) : IRetentionClockStore
{
    /// <summary>Longer than the longest delete_after (365 days), so a live mailbox's clock never expires before it is due.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(400);

    public static string Key(string tenant, string mailboxId) => Storage.StoreKeys.RetentionClock(tenant, mailboxId);

    private IDatabase Db => redis.GetDatabase();

    public async Task<IReadOnlyDictionary<string, DateTimeOffset>> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var fields = await Db.HashGetAllAsync(Key(tenant, mailboxId)).ConfigureAwait(false);
        var clock = new Dictionary<string, DateTimeOffset>(fields.Length, StringComparer.Ordinal);
        foreach (var field in fields)
        {
            clock[field.Name.ToString()] = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(field.Value.ToString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
        }

        return clock;
    }

    public async Task UpdateAsync(string tenant, string mailboxId, IReadOnlyDictionary<string, DateTimeOffset> started, IReadOnlyList<string> stopped, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = Key(tenant, mailboxId);
        if (stopped.Count > 0)
        {
            await Db.HashDeleteAsync(key, stopped.Select(u => (RedisValue)u).ToArray()).ConfigureAwait(false);
        }

        if (started.Count > 0)
        {
            await Db.HashSetAsync(key, started.Select(p => new HashEntry(p.Key, p.Value.ToUnixTimeMilliseconds())).ToArray()).ConfigureAwait(false);
            await Db.KeyExpireAsync(key, Lifetime).ConfigureAwait(false);
        }
    }
}

/// <summary>The clock in process memory (embedded store, fast tests).</summary>
internal sealed class InMemoryRetentionClockStore : IRetentionClockStore
{
    private readonly ConcurrentDictionary<string, Dictionary<string, DateTimeOffset>> _clocks = new(StringComparer.Ordinal);

    public Task<IReadOnlyDictionary<string, DateTimeOffset>> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<string, DateTimeOffset>>(
            _clocks.TryGetValue(SyncKeys.Member(tenant, mailboxId), out var clock) ? new Dictionary<string, DateTimeOffset>(clock, StringComparer.Ordinal) : new Dictionary<string, DateTimeOffset>());

    public Task UpdateAsync(string tenant, string mailboxId, IReadOnlyDictionary<string, DateTimeOffset> started, IReadOnlyList<string> stopped, CancellationToken cancellationToken)
    {
        var clock = _clocks.GetOrAdd(SyncKeys.Member(tenant, mailboxId), _ => new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal));
        lock (clock)
        {
            foreach (var uid in stopped)
            {
                clock.Remove(uid);
            }

            foreach (var (uid, at) in started)
            {
                clock[uid] = at;
            }
        }

        return Task.CompletedTask;
    }
}
