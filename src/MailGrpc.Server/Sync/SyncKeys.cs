using System.Text;

namespace MailGrpc.Server.Sync;

/// <summary>
/// The sync engine's Redis keys. The schedule is sharded over <c>Shards</c> sorted sets <c>mailgrpc:{&lt;schedule&gt;:&lt;n&gt;}:due</c> (schedule <c>sync</c> by default),
/// each its own hash tag (so spread over Redis Cluster slots), each command names one; a mailbox's sync state (known uids,
/// failures) sits under the mailbox's own tag, beside its other keys, so deleting the mailbox's keys finds it.
/// </summary>
internal static class SyncKeys
{
    public static string Due(string schedule, int shard) => $"mailgrpc:{{{schedule}:{shard}}}:due";

    /// <summary>The watch demand of a shard: member → until when (ms) some replica has watchers of it; beside its due set.</summary>
    public static string Watched(string schedule, int shard) => $"mailgrpc:{{{schedule}:{shard}}}:watched";

    /// <summary>The last listing the engine published for a mailbox's watchers (a hash: version, uids), in the mailbox's slot.</summary>
    public static string WatchListing(string tenant, string mailboxId) => Storage.StoreKeys.SyncState(tenant, mailboxId) + ":watch";

    /// <summary>The sync state of one mailbox (a hash: known uids, consecutive failures).</summary>
    public static string State(string tenant, string mailboxId) => Storage.StoreKeys.SyncState(tenant, mailboxId);

    /// <summary>A schedule member: tenant and mailbox id (neither holds a colon).</summary>
    public static string Member(string tenant, string mailboxId) => tenant + ":" + mailboxId;

    public static (string Tenant, string MailboxId) ParseMember(string member)
    {
        var colon = member.IndexOf(':', StringComparison.Ordinal);
        return colon <= 0 ? (string.Empty, member) : (member[..colon], member[(colon + 1)..]);
    }

    /// <summary>The shard of a member: FNV-1a of its UTF-8 bytes, so every replica (and version) agrees.</summary>
    public static int Shard(string member, int shards)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(member))
        {
            hash = unchecked((hash ^ b) * 16777619u);
        }

        return (int)(hash % (uint)shards);
    }
}
