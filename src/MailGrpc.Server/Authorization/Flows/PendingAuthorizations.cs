using System.Buffers.Text;
using System.Text.Json;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Storage;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Authorization.Flows;

/// <summary>
/// Pending authorization-code flows under <c>StoreKeys.PendingAuthorization(SHA-256(state))</c> — the state is a bearer
/// secret until redeemed, so key names and the per-mailbox index hold only its hash — encrypted (the PKCE verifier is a
/// secret), with a TTL. A redeemed state is replaced by a tombstone until the TTL ends, so a replay is reported as such
/// rather than as an unknown state; an expired one is still readable for the same grace period.
/// </summary>
internal sealed class PendingAuthorizations(IStateStore store, SecretProtector protector, IOptions<TokenOptions> options, TimeProvider time)
{
    /// <summary>How long a used or expired state is remembered after its lifetime.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    public async Task<PendingAuthorization> StartAsync(string state, PendingAuthorization pending, CancellationToken cancellationToken)
    {
        var lifetime = options.Value.PendingAuthorizationLifetime;
        await store.SetAsync(StoreKeys.PendingAuthorization(Hash(state)), Encrypt(state, pending), lifetime + Grace, cancellationToken);
        await store.SetAddAsync(StoreKeys.PendingStates(pending.Tenant, pending.MailboxId), [Hash(state)], cancellationToken);
        return pending;
    }

    public async Task<PendingAuthorization?> PeekAsync(string state, CancellationToken cancellationToken)
    {
        var blob = await store.GetAsync(StoreKeys.PendingAuthorization(Hash(state)), cancellationToken);
        return blob is null ? null : Decrypt(state, blob);
    }

    /// <summary>Takes the state for redemption (single use) and leaves a tombstone. Null when someone else took it first.</summary>
    public async Task<PendingAuthorization?> TakeAsync(string state, CancellationToken cancellationToken)
    {
        var key = StoreKeys.PendingAuthorization(Hash(state));
        var blob = await store.TakeAsync(key, cancellationToken);
        if (blob is null)
        {
            return null;
        }

        var pending = Decrypt(state, blob);
        if (pending.UsedAt is not null)
        {
            // Lost a race with another redemption that already wrote its tombstone: put it back.
            await store.SetAsync(key, blob, Grace, cancellationToken);
            return null;
        }

        var tombstone = pending with { CodeVerifier = string.Empty, UsedAt = time.GetUtcNow() };
        await store.SetAsync(key, Encrypt(state, tombstone), Grace, cancellationToken);
        await store.SetRemoveAsync(StoreKeys.PendingStates(pending.Tenant, pending.MailboxId), [Hash(state)], cancellationToken);
        return pending;
    }

    /// <summary>Marks a redeemed state's tombstone as completed (a reload of the callback page then says so).</summary>
    public async Task MarkCompletedAsync(string state, string? account, CancellationToken cancellationToken)
    {
        var key = StoreKeys.PendingAuthorization(Hash(state));
        var blob = await store.GetAsync(key, cancellationToken);
        if (blob is null)
        {
            return;
        }

        var tombstone = Decrypt(state, blob) with { CompletedAt = time.GetUtcNow(), Account = account };
        await store.SetAsync(key, Encrypt(state, tombstone), Grace, cancellationToken);
    }

    /// <summary>The name a state is stored under: base64url SHA-256, so Redis never holds a live state.</summary>
    public static string Hash(string state) =>
        Base64Url.EncodeToString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(state)));

    /// <summary>Puts a taken state back (the provider could not be reached, so the code may still be redeemable).</summary>
    public async Task RestoreAsync(string state, PendingAuthorization pending, CancellationToken cancellationToken)
    {
        var remaining = pending.ExpiresAt - time.GetUtcNow();
        if (remaining <= TimeSpan.Zero)
        {
            return;
        }

        await store.SetAsync(StoreKeys.PendingAuthorization(Hash(state)), Encrypt(state, pending), remaining + Grace, cancellationToken);
        await store.SetAddAsync(StoreKeys.PendingStates(pending.Tenant, pending.MailboxId), [Hash(state)], cancellationToken);
    }

    private byte[] Encrypt(string state, PendingAuthorization pending) =>
        protector.Protect(JsonSerializer.SerializeToUtf8Bytes(pending, SecretsJsonContext.Default.PendingAuthorization), SecretContext.PendingAuthorization(state));

    private PendingAuthorization Decrypt(string state, byte[] blob) =>
        JsonSerializer.Deserialize(protector.Unprotect(blob, SecretContext.PendingAuthorization(state), out _), SecretsJsonContext.Default.PendingAuthorization)
            ?? throw new SecretUnreadableException("Empty pending authorization.");
}
