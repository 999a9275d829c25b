using System.Text.Json;
using MailGrpc.Server.Storage;

namespace MailGrpc.Server.Authorization.Secrets;

/// <summary>A credential read from the store, with the version to write it back against.</summary>
internal sealed record LoadedCredential(StoredCredential Credential, string Version);

/// <summary>
/// Encrypted credentials in the state store. Reading a credential written under an older key re-encrypts it under the
/// active key (lazy rotation); <see cref="ReencryptAsync"/> does the same on demand for the rotation sweep.
/// Every store error surfaces to the caller: a credential write that fails must never look like success.
/// </summary>
internal sealed partial class CredentialStore(IStateStore store, SecretProtector protector, ILogger<CredentialStore> logger)
{
    /// <summary>The credential, or null. One store round trip when the blob is under the active key.</summary>
    public async Task<LoadedCredential?> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var key = StoreKeys.Credential(tenant, mailboxId);
        var stored = await store.GetVersionedAsync(key, cancellationToken);
        if (stored is not { } value)
        {
            return null;
        }

        var context = SecretContext.Credential(tenant, mailboxId);
        var plain = protector.Unprotect(value.Value, context, out var keyId);
        var credential = JsonSerializer.Deserialize(plain, SecretsJsonContext.Default.StoredCredential)
            ?? throw new SecretUnreadableException("The stored credential is empty.");
        Array.Clear(plain);
        var version = value.Version;
        if (keyId != protector.ActiveKeyId)
        {
            // Lazy rotation. A lost race only means someone else wrote a newer credential, already under the active key.
            var rewritten = await store.PutVersionedAsync(key, Encrypt(credential, context), version, cancellationToken);
            if (rewritten is not null)
            {
                version = rewritten;
                LogReencrypted(logger, tenant, mailboxId, keyId, protector.ActiveKeyId);
            }
        }

        return new LoadedCredential(credential, version);
    }

    /// <summary>
    /// Writes the credential when the stored version is <paramref name="expectedVersion"/> (<c>null</c>: none may exist,
    /// <c>"*"</c>: any). Returns the new version, or null on conflict.
    /// </summary>
    public Task<string?> PutAsync(string tenant, string mailboxId, StoredCredential credential, string? expectedVersion, CancellationToken cancellationToken) =>
        store.PutVersionedAsync(StoreKeys.Credential(tenant, mailboxId), Encrypt(credential, SecretContext.Credential(tenant, mailboxId)), expectedVersion, cancellationToken);

    /// <summary>Forgets the credential and the MSAL cache of a mailbox.</summary>
    public Task<long> DeleteAsync(string tenant, string mailboxId, CancellationToken cancellationToken) =>
        store.DeleteAsync([StoreKeys.Credential(tenant, mailboxId), StoreKeys.MsalCache(tenant, mailboxId)], cancellationToken);

    /// <summary>Re-encrypts one mailbox's stored secrets under the active key. True when something was rewritten.</summary>
    public async Task<bool> ReencryptAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var rewritten = false;
        var before = await store.GetVersionedAsync(StoreKeys.Credential(tenant, mailboxId), cancellationToken);
        if (before is { } credential && SecretProtector.KeyIdOf(credential.Value) != protector.ActiveKeyId)
        {
            await GetAsync(tenant, mailboxId, cancellationToken);
            rewritten = true;
        }

        var msalKey = StoreKeys.MsalCache(tenant, mailboxId);
        var msal = await store.GetVersionedAsync(msalKey, cancellationToken);
        if (msal is { } blob && SecretProtector.KeyIdOf(blob.Value) != protector.ActiveKeyId)
        {
            var context = SecretContext.MsalCache(tenant, mailboxId);
            var plain = protector.Unprotect(blob.Value, context, out _);
            await store.PutVersionedAsync(msalKey, protector.Protect(plain, context), blob.Version, cancellationToken);
            Array.Clear(plain);
            rewritten = true;
        }

        return rewritten;
    }

    private byte[] Encrypt(StoredCredential credential, SecretContext context)
    {
        var plain = JsonSerializer.SerializeToUtf8Bytes(credential, SecretsJsonContext.Default.StoredCredential);
        try
        {
            return protector.Protect(plain, context);
        }
        finally
        {
            Array.Clear(plain);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-encrypted the credential of {Tenant}/{MailboxId} from key {OldKeyId} to {NewKeyId}")]
    private static partial void LogReencrypted(ILogger logger, string tenant, string mailboxId, string oldKeyId, string newKeyId);
}
