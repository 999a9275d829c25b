using System.Text.Json;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Storage;

namespace MailGrpc.Server.Mailboxes;

/// <summary>
/// Mailbox documents in the state store, with optimistic concurrency and a per-tenant ordered index for paging.
/// Deleting a mailbox removes every key under its hash tag that MailGrpc writes.
/// </summary>
internal sealed class MailboxRepository(IStateStore store, TimeProvider time)
{
    private const int MaxConflictRetries = 16;

    public async Task<MailboxRecord?> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var stored = await store.GetVersionedAsync(StoreKeys.Mailbox(tenant, mailboxId), cancellationToken);
        return stored is { } value ? Deserialize(value) : null;
    }

    public async Task<MailboxRecord> GetRequiredAsync(string tenant, string mailboxId, CancellationToken cancellationToken) =>
        await GetAsync(tenant, mailboxId, cancellationToken) ?? throw MailGrpcException.MailboxNotFound(mailboxId);

    /// <summary>Stores a new mailbox; ALREADY_EXISTS when the id is taken in the tenant.</summary>
    public async Task<MailboxRecord> CreateAsync(MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        var version = await store.PutVersionedAsync(StoreKeys.Mailbox(mailbox.Tenant, mailbox.Id), Serialize(mailbox), expectedVersion: null, cancellationToken)
            ?? throw new MailGrpcException(global::Grpc.Core.StatusCode.AlreadyExists, ErrorReasons.MailboxAlreadyExists, $"Mailbox '{mailbox.Id}' already exists.");
        await store.IndexAddAsync(StoreKeys.TenantMailboxes(mailbox.Tenant), mailbox.Id, cancellationToken);
        return mailbox with { Etag = version };
    }

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
                throw MailGrpcException.MailboxNotFound(mailbox.Id);
            }

            throw MailGrpcException.Aborted(ErrorReasons.EtagMismatch, "The mailbox was changed since this etag was read; read it again and retry.");
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

        throw MailGrpcException.Aborted(ErrorReasons.EtagMismatch, "The mailbox is being changed concurrently; retry.");
    }

    /// <summary>Deletes a mailbox and everything stored for it. <paramref name="expectedEtag"/> "*" deletes any version.</summary>
    public async Task DeleteAsync(string tenant, string mailboxId, string expectedEtag, CancellationToken cancellationToken)
    {
        if (!await store.DeleteVersionedAsync(StoreKeys.Mailbox(tenant, mailboxId), expectedEtag, cancellationToken))
        {
            if (await GetAsync(tenant, mailboxId, cancellationToken) is null)
            {
                throw MailGrpcException.MailboxNotFound(mailboxId);
            }

            throw MailGrpcException.Aborted(ErrorReasons.EtagMismatch, "The mailbox was changed since this etag was read; read it again and retry.");
        }

        await store.IndexRemoveAsync(StoreKeys.TenantMailboxes(tenant), mailboxId, cancellationToken);

        var consumers = await store.SetMembersAsync(StoreKeys.Consumers(tenant, mailboxId), cancellationToken);
        var pendingStates = await store.SetMembersAsync(StoreKeys.PendingStates(tenant, mailboxId), cancellationToken);
        var keys = new List<string>
        {
            StoreKeys.Credential(tenant, mailboxId),
            StoreKeys.MsalCache(tenant, mailboxId),
            StoreKeys.Consumers(tenant, mailboxId),
            StoreKeys.PendingStates(tenant, mailboxId),
        };
        keys.AddRange(consumers.Select(c => StoreKeys.Ledger(tenant, mailboxId, c)));
        keys.AddRange(pendingStates.Select(StoreKeys.PendingAuthorization));
        await store.DeleteAsync(keys, cancellationToken);
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
