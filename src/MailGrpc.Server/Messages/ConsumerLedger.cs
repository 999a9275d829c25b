using MailGrpc.Server.Storage;

namespace MailGrpc.Server.Messages;

/// <summary>
/// Which uids each consumer of a mailbox has acknowledged (a set per consumer, <see cref="StoreKeys.Ledger"/>), and which
/// consumers exist (<see cref="StoreKeys.Consumers"/>, so deleting the mailbox finds every ledger).
/// </summary>
internal sealed class ConsumerLedger(IStateStore store)
{
    public async Task RecordAsync(string tenant, string mailboxId, string consumer, IReadOnlyList<string> uids, CancellationToken cancellationToken)
    {
        // Register the consumer first: a ledger that the mailbox's deletion cannot find would outlive it.
        await store.SetAddAsync(StoreKeys.Consumers(tenant, mailboxId), [consumer], cancellationToken);
        await store.SetAddAsync(StoreKeys.Ledger(tenant, mailboxId, consumer), uids, cancellationToken);
    }

    /// <summary>For each uid, whether the consumer acknowledged it.</summary>
    public async Task<bool[]> ContainsAsync(string tenant, string mailboxId, string consumer, IReadOnlyList<string> uids, CancellationToken cancellationToken) =>
        uids.Count == 0 ? [] : await store.SetContainsAsync(StoreKeys.Ledger(tenant, mailboxId, consumer), uids, cancellationToken);
}
