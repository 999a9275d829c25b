using System.Collections.Concurrent;
using System.Globalization;
using StackExchange.Redis;

namespace MailGrpc.Server.Sync;

/// <summary>
/// What the engine remembers of a mailbox between polls: the uids the last successful poll listed (null before the first)
/// and how many polls have failed in a row.
/// </summary>
internal sealed record MailboxSyncState(IReadOnlyList<string>? KnownUids, int ConsecutiveFailures)
{
    public static MailboxSyncState New { get; } = new(null, 0);
}

/// <summary>Reads and writes <see cref="MailboxSyncState"/>, one mailbox at a time (always under its POP3 lease).</summary>
internal interface ISyncStateStore
{
    Task<MailboxSyncState> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken);

    /// <summary>A successful poll: the uids it listed, failures back to 0.</summary>
    Task SetKnownAsync(string tenant, string mailboxId, IReadOnlyList<string> uids, CancellationToken cancellationToken);

    Task SetFailuresAsync(string tenant, string mailboxId, int consecutiveFailures, CancellationToken cancellationToken);

    Task DeleteAsync(string tenant, string mailboxId, CancellationToken cancellationToken);
}

/// <summary>
/// The sync state on Redis: one hash under the mailbox's hash tag (<see cref="SyncKeys.State"/>), field <c>uids</c> (the
/// known uids, newline-separated: POP3 uids are printable ASCII without spaces) and <c>failures</c>. One HGETALL and one
/// HSET per poll.
/// </summary>
internal sealed class RedisSyncStateStore(IConnectionMultiplexer redis) : ISyncStateStore
{
    private const string UidsField = "uids";
    private const string FailuresField = "failures";

    private IDatabase Db => redis.GetDatabase();

    public async Task<MailboxSyncState> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var fields = await Db.HashGetAllAsync(SyncKeys.State(tenant, mailboxId)).ConfigureAwait(false);
        string? uids = null;
        var failures = 0;
        foreach (var field in fields)
        {
            if (field.Name == UidsField)
            {
                uids = field.Value.ToString();
            }
            else if (field.Name == FailuresField)
            {
                failures = int.Parse(field.Value.ToString(), NumberStyles.None, CultureInfo.InvariantCulture);
            }
        }

        return new MailboxSyncState(uids is null ? null : uids.Length == 0 ? [] : uids.Split('\n'), failures);
    }

    public Task SetKnownAsync(string tenant, string mailboxId, IReadOnlyList<string> uids, CancellationToken cancellationToken) =>
        Db.HashSetAsync(SyncKeys.State(tenant, mailboxId), [new(UidsField, string.Join('\n', uids)), new(FailuresField, 0)]);

    public Task SetFailuresAsync(string tenant, string mailboxId, int consecutiveFailures, CancellationToken cancellationToken) =>
        Db.HashSetAsync(SyncKeys.State(tenant, mailboxId), FailuresField, consecutiveFailures);

    public Task DeleteAsync(string tenant, string mailboxId, CancellationToken cancellationToken) =>
        Db.KeyDeleteAsync(SyncKeys.State(tenant, mailboxId));
}

/// <summary>The sync state in process memory (embedded store, fast tests).</summary>
internal sealed class InMemorySyncStateStore : ISyncStateStore
{
    private readonly ConcurrentDictionary<string, MailboxSyncState> _states = new(StringComparer.Ordinal);

    public Task<MailboxSyncState> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken) =>
        Task.FromResult(_states.GetValueOrDefault(SyncKeys.Member(tenant, mailboxId)) ?? MailboxSyncState.New);

    public Task SetKnownAsync(string tenant, string mailboxId, IReadOnlyList<string> uids, CancellationToken cancellationToken)
    {
        _states[SyncKeys.Member(tenant, mailboxId)] = new MailboxSyncState(uids.ToArray(), 0);
        return Task.CompletedTask;
    }

    public Task SetFailuresAsync(string tenant, string mailboxId, int consecutiveFailures, CancellationToken cancellationToken)
    {
        _states.AddOrUpdate(SyncKeys.Member(tenant, mailboxId), _ => new MailboxSyncState(null, consecutiveFailures), (_, s) => s with { ConsecutiveFailures = consecutiveFailures });
        return Task.CompletedTask;
    }

    public Task DeleteAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        _states.TryRemove(SyncKeys.Member(tenant, mailboxId), out _);
        return Task.CompletedTask;
    }
}
