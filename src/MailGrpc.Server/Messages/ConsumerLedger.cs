using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Storage;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Messages;

/// <summary>
/// Which uids each consumer of a mailbox has acknowledged (a set per consumer, <see cref="StoreKeys.Ledger"/>), and which
/// consumers exist (<see cref="StoreKeys.Consumers"/>, so deleting the mailbox finds every ledger). Ledgers hold only uids
/// the POP3 server listed (<see cref="StoreKeys.ListedUids"/>, the last listing any replica saw), so a ledger is never larger
/// than the mailbox and forgets uids the server no longer has. A mailbox has at most
/// <see cref="Pop3Options.MaxConsumersPerMailbox"/> consumers; <see cref="ForgetAsync"/> (DeleteConsumer) removes one.
/// </summary>
internal sealed class ConsumerLedger(IStateStore store, IOptions<Pop3Options> options)
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
            // Register the consumer first: a ledger that the mailbox's deletion cannot find would outlive it. A new consumer
            // past the limit is refused before anything is written.
            var max = options.Value.MaxConsumersPerMailbox;
            if (await store.SetAddBoundedAsync(StoreKeys.Consumers(tenant, mailboxId), consumer, max, cancellationToken) == BoundedSetAdd.Full)
            {
                throw Failures.ConsumerLimitReached(mailboxId, max);
            }

            await store.SetAddAsync(StoreKeys.Ledger(tenant, mailboxId, consumer), recorded, cancellationToken);
        }

        return (recorded, unknown);
    }

    /// <summary>
    /// Forgets a consumer: its ledger first, then its name (a name without a ledger is harmless, a ledger without a name
    /// would outlive the mailbox). True when the mailbox had it.
    /// </summary>
    public async Task<bool> ForgetAsync(string tenant, string mailboxId, string consumer, CancellationToken cancellationToken)
    {
        var hadLedger = await store.DeleteAsync([StoreKeys.Ledger(tenant, mailboxId, consumer)], cancellationToken) > 0;
        var hadName = await store.SetRemoveAsync(StoreKeys.Consumers(tenant, mailboxId), [consumer], cancellationToken) > 0;
        return hadLedger || hadName;
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
