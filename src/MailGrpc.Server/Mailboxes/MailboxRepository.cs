using System.Text.Json;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Storage;

namespace MailGrpc.Server.Mailboxes;

/// <summary>
/// Mailbox documents in the state store, with optimistic concurrency and a per-tenant ordered index for paging.
/// Create and delete touch two Redis Cluster slots (the mailbox's and the tenant index's), so both are ordered to be
/// retry-safe: any prefix of their steps followed by a retry of the same call ends in the intended state, and
/// <see cref="MailboxReconciler"/> repairs what a crash leaves without a retry.
/// </summary>
internal sealed class MailboxRepository(IStateStore store, TimeProvider time)
{
    private const int MaxConflictRetries = 16;

    /// <summary>
    /// How long a finished delete leaves its tombstone: longer than any client's retry of a DeleteMailbox whose reply was
    /// lost (a Redis failover takes seconds), short enough that nothing of a deleted mailbox stays for long.
    /// </summary>
    public static readonly TimeSpan TombstoneLifetime = TimeSpan.FromMinutes(15);

    /// <summary>The mailbox, or null when it does not exist or is being deleted.</summary>
    public async Task<MailboxRecord?> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken) =>
        await GetStoredAsync(tenant, mailboxId, cancellationToken) is { DeletingSince: null } mailbox ? mailbox : null;

    /// <summary>The stored document, including one marked as being deleted.</summary>
    public async Task<MailboxRecord?> GetStoredAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var stored = await store.GetVersionedAsync(StoreKeys.Mailbox(tenant, mailboxId), cancellationToken);
        return stored is { } value ? Deserialize(value) : null;
    }

    public async Task<MailboxRecord> GetRequiredAsync(string tenant, string mailboxId, CancellationToken cancellationToken) =>
        await GetAsync(tenant, mailboxId, cancellationToken) ?? throw Failures.MailboxNotFound(mailboxId);

    /// <summary>
    /// Stores a new mailbox, then its tenant index entry (another Redis Cluster slot). Retry-safe: when the id already holds
    /// the same mailbox (a retry after a lost reply or a crash between the two writes) the index entry is written again and
    /// the stored mailbox returned; a mailbox still being deleted is finished off first. ALREADY_EXISTS when the id holds
    /// a different mailbox.
    /// </summary>
    public async Task<MailboxRecord> CreateAsync(MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var version = await store.PutVersionedAsync(StoreKeys.Mailbox(mailbox.Tenant, mailbox.Id), Serialize(mailbox), expectedVersion: null, cancellationToken);
            if (version is not null)
            {
                await store.IndexAddAsync(StoreKeys.TenantMailboxes(mailbox.Tenant), mailbox.Id, cancellationToken);
                return mailbox with { Etag = version };
            }

            var existing = await GetStoredAsync(mailbox.Tenant, mailbox.Id, cancellationToken);
            if (existing is null)
            {
                continue;
            }

            if (existing.DeletedAt is not null)
            {
                // A tombstone: the id is free again.
                var replaced = await store.PutVersionedAsync(StoreKeys.Mailbox(mailbox.Tenant, mailbox.Id), Serialize(mailbox), existing.Etag, cancellationToken);
                if (replaced is not null)
                {
                    await store.IndexAddAsync(StoreKeys.TenantMailboxes(mailbox.Tenant), mailbox.Id, cancellationToken);
                    return mailbox with { Etag = replaced };
                }

                continue;
            }

            if (existing.DeletingSince is not null)
            {
                await FinishDeleteAsync(mailbox.Tenant, mailbox.Id, revokedAtProvider: null, cancellationToken);
                continue;
            }

            if (SameRegistration(existing, mailbox))
            {
                // The retry of a create whose first answer was lost or UNAVAILABLE: answer OK only once the document is
                // on a replica (the first attempt may have failed exactly there, or another process wrote it).
                await store.ConfirmDurableAsync(StoreKeys.Mailbox(mailbox.Tenant, mailbox.Id), cancellationToken);
                await store.IndexAddAsync(StoreKeys.TenantMailboxes(mailbox.Tenant), mailbox.Id, cancellationToken);
                return existing;
            }

            break;
        }

        throw Failures.MailboxAlreadyExists(mailbox.Id);
    }

    // What a CreateMailbox request sets; state, timestamps and errors move on their own after creation.
    private static bool SameRegistration(MailboxRecord a, MailboxRecord b) =>
        a.Tenant == b.Tenant && a.Id == b.Id && a.Username == b.Username && a.DisplayName == b.DisplayName &&
        a.Provider == b.Provider && a.Host == b.Host && a.Port == b.Port && a.Security == b.Security &&
        a.AuthKind == b.AuthKind && a.OAuthClient == b.OAuthClient && a.Mechanism == b.Mechanism;

    /// <summary>
    /// Replaces a mailbox when its etag is still <paramref name="expectedEtag"/>. ABORTED (<c>ETAG_MISMATCH</c>) otherwise.
    /// </summary>
    public async Task<MailboxRecord> ReplaceAsync(MailboxRecord mailbox, string expectedEtag, CancellationToken cancellationToken)
    {
        var updated = mailbox with { UpdatedAt = time.GetUtcNow() };
        var version = await store.PutVersionedAsync(StoreKeys.Mailbox(mailbox.Tenant, mailbox.Id), Serialize(updated), expectedEtag, cancellationToken);
        if (version is null)
        {
            if (await GetAsync(mailbox.Tenant, mailbox.Id, cancellationToken) is null)
            {
                throw Failures.MailboxNotFound(mailbox.Id);
            }

            throw Failures.EtagMismatch();
        }

        return updated with { Etag = version };
    }

    /// <summary>
    /// Applies <paramref name="mutate"/> to the current mailbox and saves it, retrying on concurrent changes. For server-side
    /// state changes (token errors, activation) that must not be lost to a race. Returns null when the mailbox is gone.
    /// </summary>
    public async Task<MailboxRecord?> UpdateAsync(string tenant, string mailboxId, Func<MailboxRecord, MailboxRecord> mutate, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxConflictRetries; attempt++)
        {
            var current = await GetAsync(tenant, mailboxId, cancellationToken);
            if (current is null)
            {
                return null;
            }

            var next = mutate(current);
            if (next == current)
            {
                return current;
            }

            next = next with { UpdatedAt = time.GetUtcNow() };
            var version = await store.PutVersionedAsync(StoreKeys.Mailbox(tenant, mailboxId), Serialize(next), current.Etag, cancellationToken);
            if (version is not null)
            {
                return next with { Etag = version };
            }
        }

        throw Failures.MailboxChangedConcurrently();
    }

    /// <summary>
    /// The first step of a delete: marks the mailbox as being deleted (on its own key, so it is atomic), after which every
    /// RPC sees it as gone. <paramref name="expectedEtag"/> "*" accepts any version. A mailbox already marked is returned as
    /// it is, whatever the etag: the retry of a delete whose first attempt failed half-way goes on to finish it. So is a
    /// tombstone (<see cref="MailboxRecord.DeletedAt"/> set): the delete already finished, and its retry answers the same.
    /// </summary>
    public async Task<MailboxRecord> MarkDeletingAsync(string tenant, string mailboxId, string expectedEtag, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxConflictRetries; attempt++)
        {
            var current = await GetStoredAsync(tenant, mailboxId, cancellationToken) ?? throw Failures.MailboxNotFound(mailboxId);
            if (current.DeletingSince is not null)
            {
                // A retry: the mark (or tombstone) an earlier attempt wrote must be on a replica before this one answers.
                await store.ConfirmDurableAsync(StoreKeys.Mailbox(tenant, mailboxId), cancellationToken);
                return current;
            }

            if (expectedEtag != "*" && expectedEtag != current.Etag)
            {
                throw Failures.EtagMismatch();
            }

            var now = time.GetUtcNow();
            var marked = current with { DeletingSince = now, UpdatedAt = now };
            var version = await store.PutVersionedAsync(StoreKeys.Mailbox(tenant, mailboxId), Serialize(marked), current.Etag, cancellationToken);
            if (version is not null)
            {
                return marked with { Etag = version };
            }
        }

        throw Failures.MailboxChangedConcurrently();
    }

    /// <summary>
    /// Removes everything stored for a mailbox, in an order that any prefix of leaves findable: the index entry, then the
    /// credential, MSAL cache, ledgers, sync state, retention clock and pending authorizations, then the sets that name the ledgers and authorizations,
    /// and last the deletion mark becomes a tombstone that expires after <see cref="TombstoneLifetime"/>. Idempotent; the
    /// reconciler calls it for leftovers too. <paramref name="revokedAtProvider"/> is what the delete answers, kept on the
    /// tombstone for a retry (null when no delete call is waiting for it).
    /// </summary>
    public async Task FinishDeleteAsync(string tenant, string mailboxId, bool? revokedAtProvider, CancellationToken cancellationToken)
    {
        await store.IndexRemoveAsync(StoreKeys.TenantMailboxes(tenant), mailboxId, cancellationToken);

        var consumers = await store.SetMembersAsync(StoreKeys.Consumers(tenant, mailboxId), cancellationToken);
        var pendingStates = await store.SetMembersAsync(StoreKeys.PendingStates(tenant, mailboxId), cancellationToken);
        var keys = new List<string>
        {
            StoreKeys.Credential(tenant, mailboxId),
            StoreKeys.MsalCache(tenant, mailboxId),
            StoreKeys.ListedUids(tenant, mailboxId),
            StoreKeys.SyncState(tenant, mailboxId),
            StoreKeys.RetentionClock(tenant, mailboxId),
        };
        keys.AddRange(consumers.Select(c => StoreKeys.Ledger(tenant, mailboxId, c)));
        keys.AddRange(pendingStates.Select(StoreKeys.PendingAuthorization));
        await store.DeleteAsync(keys, cancellationToken);
        await store.DeleteAsync([StoreKeys.Consumers(tenant, mailboxId), StoreKeys.PendingStates(tenant, mailboxId)], cancellationToken);

        // The mark becomes a tombstone only while it is still the mark: a create may have taken the id meanwhile.
        if (await GetStoredAsync(tenant, mailboxId, cancellationToken) is { DeletingSince: { } since, DeletedAt: null } marked)
        {
            var now = time.GetUtcNow();
            var tombstone = new MailboxRecord
            {
                Tenant = tenant,
                Id = mailboxId,
                Username = string.Empty,
                Host = string.Empty,
                CreatedAt = marked.CreatedAt,
                UpdatedAt = now,
                DeletingSince = since,
                DeletedAt = now,
                RevokedAtProvider = revokedAtProvider ?? false,
            };
            await store.PutVersionedAsync(StoreKeys.Mailbox(tenant, mailboxId), Serialize(tombstone), marked.Etag, TombstoneLifetime, cancellationToken);
        }
    }

    /// <summary>A page of the tenant's mailboxes in id order, starting after <paramref name="afterId"/>.</summary>
    public async Task<(IReadOnlyList<MailboxRecord> Page, string? LastId, bool More)> ListAsync(string tenant, string? afterId, int pageSize, CancellationToken cancellationToken)
    {
        // One extra id tells whether another page exists.
        var ids = await store.IndexRangeAsync(StoreKeys.TenantMailboxes(tenant), afterId, pageSize + 1, cancellationToken);
        var more = ids.Count > pageSize;
        var pageIds = more ? ids.Take(pageSize).ToArray() : ids.ToArray();
        var records = await Task.WhenAll(pageIds.Select(id => GetAsync(tenant, id, cancellationToken)));
        var page = records.OfType<MailboxRecord>().ToArray();
        return (page, pageIds.Length > 0 ? pageIds[^1] : afterId, more);
    }

    private static byte[] Serialize(MailboxRecord mailbox) => JsonSerializer.SerializeToUtf8Bytes(mailbox, MailboxJsonContext.Default.MailboxRecord);

    private static MailboxRecord Deserialize(VersionedValue value) =>
        (JsonSerializer.Deserialize(value.Value, MailboxJsonContext.Default.MailboxRecord) ?? throw new InvalidDataException("Empty mailbox document.")) with { Etag = value.Version };
}
