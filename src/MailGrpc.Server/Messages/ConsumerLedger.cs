using MailGrpc.Server.Storage;

namespace MailGrpc.Server.Messages;

/// <summary>
/// Which uids each consumer of a mailbox has acknowledged (a set per consumer, <see cref="StoreKeys.Ledger"/>), and which
/// consumers exist (<see cref="StoreKeys.Consumers"/>, so deleting the mailbox finds every ledger). Ledgers hold only uids
/// the POP3 server listed (<see cref="StoreKeys.ListedUids"/>, the last listing any replica saw), so a ledger is never larger
/// than the mailbox and forgets uids the server no longer has.
/// </summary>
internal sealed class ConsumerLedger(IStateStore store)
{
    /// <summary>
    /// Records the acknowledgement of the <paramref name="uids"/> the server listed; the others are not recorded and come
    /// back as unknown (never on the server, or gone since).
    /// </summary>
    public async Task<(IReadOnlyList<string> Recorded, IReadOnlyList<string> Unknown)> RecordAsync(
        string tenant, string mailboxId, string consumer, IReadOnlyList<string> uids, CancellationToken cancellationToken)
    {
        var listed = await store.SetContainsAsync(StoreKeys.ListedUids(tenant, mailboxId), uids, cancellationToken);
        var recorded = uids.Where((_, i) => listed[i]).Distinct(StringComparer.Ordinal).ToArray();
        var unknown = uids.Where((_, i) => !listed[i]).Distinct(StringComparer.Ordinal).ToArray();
        if (recorded.Length > 0)
        {
            // Register the consumer first: a ledger that the mailbox's deletion cannot find would outlive it.
            await store.SetAddAsync(StoreKeys.Consumers(tenant, mailboxId), [consumer], cancellationToken);
            await store.SetAddAsync(StoreKeys.Ledger(tenant, mailboxId, consumer), recorded, cancellationToken);
        }

        return (recorded, unknown);
    }

    /// <summary>For each uid, whether the consumer acknowledged it.</summary>
    public async Task<bool[]> ContainsAsync(string tenant, string mailboxId, string consumer, IReadOnlyList<string> uids, CancellationToken cancellationToken) =>
        uids.Count == 0 ? [] : await store.SetContainsAsync(StoreKeys.Ledger(tenant, mailboxId, consumer), uids, cancellationToken);

    /// <summary>
    /// Takes a fresh listing of the server: uids new to it become acknowledgeable, and uids that vanished are dropped from
    /// the listed set and from every consumer's ledger (they can never be offered again). New uids are added before any
    /// removal, so an acknowledgement racing the update never misses a uid that is on the server.
    /// </summary>
    public async Task ObserveListingAsync(string tenant, string mailboxId, IEnumerable<string> serverUids, CancellationToken cancellationToken)
    {
        var key = StoreKeys.ListedUids(tenant, mailboxId);
        var current = new HashSet<string>(serverUids, StringComparer.Ordinal);
        var before = await store.SetMembersAsync(key, cancellationToken);
        var known = new HashSet<string>(before, StringComparer.Ordinal);
        var added = current.Where(u => !known.Contains(u)).ToArray();
        var vanished = before.Where(u => !current.Contains(u)).ToArray();
        if (added.Length > 0)
        {
            await store.SetAddAsync(key, added, cancellationToken);
        }

        if (vanished.Length == 0)
        {
            return;
        }

        await store.SetRemoveAsync(key, vanished, cancellationToken);
        foreach (var consumer in await store.SetMembersAsync(StoreKeys.Consumers(tenant, mailboxId), cancellationToken))
        {
            await store.SetRemoveAsync(StoreKeys.Ledger(tenant, mailboxId, consumer), vanished, cancellationToken);
        }
    }
}
