namespace MailGrpc.Server.Storage;

/// <summary>One page of a key scan: the keys found and the cursor to continue from (empty when the scan is complete).</summary>
internal readonly record struct KeyScanPage(IReadOnlyList<string> Keys, string Cursor);

/// <summary>What <see cref="IStateStore.SetAddBoundedAsync"/> did.</summary>
internal enum BoundedSetAdd
{
    /// <summary>The member was added.</summary>
    Added,

    /// <summary>The member was in the set already.</summary>
    Present,

    /// <summary>The set is full: nothing was added.</summary>
    Full,
}

/// <summary>A stored value with its version, for optimistic concurrency.</summary>
internal readonly record struct VersionedValue(byte[] Value, string Version);

/// <summary>
/// The few primitives every part of MailGrpc keeps its state with. Two implementations run the same contract tests:
/// <see cref="RedisStateStore"/> (the system of record, shared by replicas) and <see cref="InMemoryStateStore"/>
/// (development only). Keys come from <see cref="StoreKeys"/>; all keys of one mailbox share a hash tag, so
/// multi-key operations on one mailbox work on Redis Cluster too.
/// </summary>
internal interface IStateStore
{
    /// <summary>True when the store is the embedded development store.</summary>
    bool IsEmbedded { get; }

    /// <summary>Checks the store answers (health).</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Null when the store can serve the whole mailbox keyspace (readiness), else the condition that stops it: on Redis
    /// Cluster every slot must have a reachable master and the cluster must say <c>cluster_state:ok</c>; on one Redis (or
    /// Sentinel) a primary must answer a keyed read (so <c>LOADING</c> counts too).
    /// </summary>
    /// <remarks>Default: serving (decorators that wrap a store in tests need not forward it).</remarks>
    Task<string?> ServingProblemAsync(CancellationToken cancellationToken) => Task.FromResult<string?>(null);

    // Versioned documents (mailboxes, token sets).
    Task<VersionedValue?> GetVersionedAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Writes <paramref name="value"/> when the current version is <paramref name="expectedVersion"/>
    /// (<c>null</c>: the key must not exist; <c>"*"</c>: any). Returns the new version, or <c>null</c> on conflict.
    /// </summary>
    Task<string?> PutVersionedAsync(string key, byte[] value, string? expectedVersion, CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="PutVersionedAsync(string, byte[], string?, CancellationToken)"/>, and the key expires after
    /// <paramref name="expiry"/> (a tombstone). A later put without expiry makes the key persistent again.
    /// </summary>
    Task<string?> PutVersionedAsync(string key, byte[] value, string? expectedVersion, TimeSpan expiry, CancellationToken cancellationToken);

    /// <summary>Deletes when the version matches (<c>"*"</c>: any). Returns false on conflict or when missing.</summary>
    Task<bool> DeleteVersionedAsync(string key, string expectedVersion, CancellationToken cancellationToken);

    // Plain values with optional expiry (pending authorizations, leases, locks).
    Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken);

    Task SetAsync(string key, byte[] value, TimeSpan? expiry, CancellationToken cancellationToken);

    /// <summary>Sets the key only when it does not exist (a lock or lease). True when this call set it.</summary>
    Task<bool> SetIfAbsentAsync(string key, byte[] value, TimeSpan expiry, CancellationToken cancellationToken);

    /// <summary>Reads and deletes in one step (single-use values).</summary>
    Task<byte[]?> TakeAsync(string key, CancellationToken cancellationToken);

    /// <summary>Extends the expiry when the key still holds <paramref name="value"/> (the holder's token).</summary>
    Task<bool> RenewIfEqualAsync(string key, byte[] value, TimeSpan expiry, CancellationToken cancellationToken);

    /// <summary>Deletes the key when it still holds <paramref name="value"/>.</summary>
    Task<bool> DeleteIfEqualAsync(string key, byte[] value, CancellationToken cancellationToken);

    /// <summary>Deletes keys; returns how many existed.</summary>
    Task<long> DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken);

    // Sets (consumer ledgers, indexes of related keys).
    Task<long> SetAddAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken);

    Task<long> SetRemoveAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken);

    /// <summary>Adds <paramref name="member"/> unless the set already holds <paramref name="max"/> others (atomic).</summary>
    /// <remarks>Default (decorators that wrap a store in tests): not atomic, built from the other set primitives.</remarks>
    async Task<BoundedSetAdd> SetAddBoundedAsync(string key, string member, int max, CancellationToken cancellationToken)
    {
        if ((await SetContainsAsync(key, [member], cancellationToken))[0])
        {
            return BoundedSetAdd.Present;
        }

        if ((await SetMembersAsync(key, cancellationToken)).Count >= max)
        {
            return BoundedSetAdd.Full;
        }

        await SetAddAsync(key, [member], cancellationToken);
        return BoundedSetAdd.Added;
    }

    /// <summary>For each member, whether it is in the set.</summary>
    Task<bool[]> SetContainsAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken);

    Task<IReadOnlyList<string>> SetMembersAsync(string key, CancellationToken cancellationToken);

    // Ordered indexes (listing mailboxes by id): members sorted by ordinal string order.
    Task IndexAddAsync(string key, string member, CancellationToken cancellationToken);

    Task IndexRemoveAsync(string key, string member, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="count"/> members strictly after <paramref name="after"/> (or from the start when null).</summary>
    Task<IReadOnlyList<string>> IndexRangeAsync(string key, string? after, int count, CancellationToken cancellationToken);

    /// <summary>True when <paramref name="member"/> is in the ordered index.</summary>
    /// <remarks>Default: not supported (only the reconciler asks, for keys a store's own scan returned).</remarks>
    Task<bool> IndexContainsAsync(string key, string member, CancellationToken cancellationToken) => throw new NotSupportedException();

    // Maintenance (the reconciler).

    /// <summary>
    /// One bounded step of a scan of the keys matching <paramref name="pattern"/> (a glob with <c>*</c>): start with the cursor
    /// <c>""</c> and pass back the returned one until it is <c>""</c> again. On Redis Cluster it walks every master in turn.
    /// A key may be returned more than once; keys written during the scan may be missed (the next scan finds them).
    /// </summary>
    /// <remarks>Default: nothing to scan (decorators that wrap a store in tests need not forward it).</remarks>
    Task<KeyScanPage> ScanAsync(string pattern, string cursor, int count, CancellationToken cancellationToken) =>
        Task.FromResult(new KeyScanPage([], string.Empty));

    /// <summary>
    /// Waits until the writes made so far on the connection that holds <paramref name="key"/> reached at least
    /// <paramref name="replicas"/> replicas, at most <paramref name="timeout"/> (Redis <c>WAIT</c>). Returns how many
    /// replicas acknowledged, 0 at once when none are connected (in sync or still syncing), -1 when fewer than asked (and
    /// connected) acknowledged in time.
    /// </summary>
    /// <remarks>Default: no replicas.</remarks>
    Task<long> WaitForReplicasAsync(string key, int replicas, TimeSpan timeout, CancellationToken cancellationToken) => Task.FromResult(0L);

    /// <summary>
    /// Makes sure a durable document (a credential or mailbox document) that already exists — found by a retry, perhaps
    /// written by another process — is on the replicas its master is expected to have; UNAVAILABLE (<c>NOREPLICAS</c>)
    /// when none acknowledges in time. A no-op for other keys and for stores without replicas.
    /// </summary>
    Task ConfirmDurableAsync(string key, CancellationToken cancellationToken) => Task.CompletedTask;
}
