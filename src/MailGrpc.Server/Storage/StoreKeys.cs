namespace MailGrpc.Server.Storage;

/// <summary>
/// Every Redis key MailGrpc writes. All keys of one mailbox carry the hash tag <c>{mbx:&lt;tenant&gt;:&lt;id&gt;}</c>, so they
/// live in one Redis Cluster slot; tenant and mailbox ids are validated to exclude braces and colons.
/// </summary>
internal static class StoreKeys
{
    private const string Prefix = "mailgrpc:";

    public static string MailboxTag(string tenant, string mailboxId) => $"{{mbx:{tenant}:{mailboxId}}}";

    /// <summary>The mailbox document (JSON, versioned).</summary>
    public static string Mailbox(string tenant, string mailboxId) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:mailbox";

    /// <summary>The encrypted credential (token set or password), versioned.</summary>
    public static string Credential(string tenant, string mailboxId) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:credential";

    /// <summary>The encrypted MSAL token cache blob of a Microsoft mailbox.</summary>
    public static string MsalCache(string tenant, string mailboxId) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:msal";

    /// <summary>The cross-replica lock held while refreshing a mailbox's token.</summary>
    public static string RefreshLock(string tenant, string mailboxId) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:refresh-lock";

    /// <summary>The lease on the mailbox's one POP3 session.</summary>
    public static string Pop3Lease(string tenant, string mailboxId) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:pop3-lease";

    /// <summary>The uids one consumer acknowledged.</summary>
    public static string Ledger(string tenant, string mailboxId, string consumer) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:ack:{consumer}";

    /// <summary>The uids the POP3 server listed last (any replica): only these can be acknowledged.</summary>
    public static string ListedUids(string tenant, string mailboxId) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:listed";

    /// <summary>The names of the consumers that have a ledger, so deleting a mailbox finds them.</summary>
    public static string Consumers(string tenant, string mailboxId) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:consumers";

    /// <summary>The states of pending authorizations started for the mailbox, so deleting it can drop them.</summary>
    public static string PendingStates(string tenant, string mailboxId) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:pending-states";

    /// <summary>A pending authorization (PKCE verifier, redirect URI, tenant, mailbox), single use, with a TTL.</summary>
    public static string PendingAuthorization(string state) => $"{Prefix}{{auth:{state}}}:pending";

    /// <summary>The sync engine's state of one mailbox (a hash: known uids, consecutive failures; docs/sync.md).</summary>
    public static string SyncState(string tenant, string mailboxId) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:sync";

    /// <summary>When each uid became acknowledged by every required consumer (the retention policy's clock).</summary>
    public static string RetentionClock(string tenant, string mailboxId) => $"{Prefix}{MailboxTag(tenant, mailboxId)}:retention";

    /// <summary>The ordered index of a tenant's mailbox ids.</summary>
    public static string TenantMailboxes(string tenant) => $"{Prefix}{{tenant:{tenant}}}:mailboxes";

    /// <summary>True for a mailbox document's key (<see cref="Mailbox"/>).</summary>
    public static bool IsMailboxDocument(string key) =>
        key.StartsWith(Prefix + "{mbx:", StringComparison.Ordinal) && key.EndsWith("}:mailbox", StringComparison.Ordinal);

    /// <summary>True for the keys that hold a credential (token set, password, MSAL cache): their writes wait for a replica.</summary>
    public static bool IsCredential(string key) =>
        key.StartsWith(Prefix + "{mbx:", StringComparison.Ordinal) && (key.EndsWith("}:credential", StringComparison.Ordinal) || key.EndsWith("}:msal", StringComparison.Ordinal));
}
