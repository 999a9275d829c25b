using MailGrpc.Server.Pop3;

namespace MailGrpc.Server.Sync;

/// <summary>What changed in a mailbox since the last poll: the listed entries that are new, and the known uids that are gone.</summary>
internal sealed record SyncDiff(IReadOnlyList<Pop3Entry> Arrived, IReadOnlyList<string> Removed)
{
    /// <summary>
    /// Compares a listing with the known uids. <paramref name="known"/> null is a first poll: nothing is removed, and the
    /// listing counts as arrived only when <paramref name="emitExisting"/> (else it is just recorded). Arrived keeps the
    /// server's order; removed keeps the known order.
    /// </summary>
    public static SyncDiff Compute(IReadOnlyList<string>? known, IReadOnlyList<Pop3Entry> listed, bool emitExisting)
    {
        if (known is null)
        {
            return new SyncDiff(emitExisting ? listed : [], []);
        }

        var knownSet = new HashSet<string>(known, StringComparer.Ordinal);
        var listedSet = new HashSet<string>(listed.Select(e => e.Uid), StringComparer.Ordinal);
        return new SyncDiff(
            listed.Where(e => !knownSet.Contains(e.Uid)).ToArray(),
            known.Where(u => !listedSet.Contains(u)).ToArray());
    }

    public bool IsEmpty => Arrived.Count == 0 && Removed.Count == 0;
}
