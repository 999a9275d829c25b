using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Pop3;

namespace MailGrpc.Server.Messages;

/// <summary>
/// The one way messages are deleted on a POP3 server (DeleteMessages, AcknowledgeMessages with delete, retention): in an
/// open session under the mailbox's lease, DELE by uid, QUIT, then a new login under the same lease checks by uid that the
/// QUIT really removed them (MailKit swallows a failed QUIT). Leftovers get one more round; still there after that →
/// UNAVAILABLE, safe to retry. The final listing is handed to the ledger, so deleted uids leave every consumer's ledger.
/// </summary>
internal sealed partial class MessageDeleter(ConsumerLedger ledger, ILogger<MessageDeleter> logger)
{
    /// <summary>Deletes the <paramref name="uids"/> the server lists; returns those deleted and those that were not there.</summary>
    public async Task<(List<string> Deleted, List<string> Missing)> DeleteAsync(
        Pop3Session session, MailboxRecord mailbox, IReadOnlyList<string> uids, CancellationToken cancellationToken)
    {
        var present = ByUid(await session.ListAsync());
        var missing = uids.Where(u => !present.ContainsKey(u)).ToList();
        var toDelete = uids.Where(present.ContainsKey).ToList();
        var pending = toDelete;
        for (var round = 0; round < 2 && pending.Count > 0; round++)
        {
            var current = ByUid(await session.ListAsync());
            var indexes = pending.Where(current.ContainsKey).Select(u => current[u].Index).ToArray();
            await session.MarkDeletedAsync(indexes);
            await session.CommitAndReopenAsync();
            var after = ByUid(await session.ListAsync());
            pending = pending.Where(after.ContainsKey).ToList();
        }

        // The deleted uids leave the listed set and every ledger (the final listing is the server's truth).
        await ledger.ObserveListingAsync(mailbox.Tenant, mailbox.Id, ByUid(await session.ListAsync()).Keys, cancellationToken);
        if (pending.Count > 0)
        {
            throw Failures.Pop3DeleteNotCommitted(pending.Count);
        }

        LogDeleted(logger, mailbox.Id, toDelete.Count, missing.Count);
        return (toDelete, missing);
    }

    private static Dictionary<string, Pop3Entry> ByUid(IReadOnlyList<Pop3Entry> entries)
    {
        var map = new Dictionary<string, Pop3Entry>(entries.Count, StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            map.TryAdd(entry.Uid, entry);
        }

        return map;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Deleted} messages of mailbox {MailboxId} ({Missing} already gone)")]
    private static partial void LogDeleted(ILogger logger, string mailboxId, int deleted, int missing);
}
