using System.Runtime.ExceptionServices;
using System.Text.Json;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Storage;
using Microsoft.Identity.Client;

namespace MailGrpc.Server.Authorization.Providers.Msal;

/// <summary>
/// MSAL's user token cache of ONE mailbox, kept encrypted under <c>StoreKeys.MsalCache</c>. An instance is bound to the
/// user cache of one confidential-client instance built for one operation on one mailbox, so the blob is keyed by the
/// mailbox (MSAL's <c>SuggestedCacheKey</c> is not needed). Before each access the blob is loaded; after an access that
/// changed it (a new or rotated refresh token) it is written before MSAL returns the token. Every store error is thrown
/// and also kept in <see cref="Failure"/>, so it surfaces even if MSAL wrapped it; nothing is swallowed.
/// </summary>
internal sealed class MsalMailboxCache
{
    private readonly IStateStore _store;
    private readonly SecretProtector _protector;
    private readonly string _key;
    private readonly SecretContext _context;
    private readonly bool _replace;
    private string? _version;

    /// <param name="replace">
    /// True for a new grant (consent, imported refresh token): start from an empty cache and overwrite whatever is stored,
    /// so the accounts of an earlier consent are dropped. False for a refresh: load the stored blob and write it back only
    /// if nobody replaced or deleted it meanwhile (a new consent or a revocation wins).
    /// </param>
    public MsalMailboxCache(IStateStore store, SecretProtector protector, string tenant, string mailboxId, bool replace)
    {
        _store = store;
        _protector = protector;
        _key = StoreKeys.MsalCache(tenant, mailboxId);
        _context = SecretContext.MsalCache(tenant, mailboxId);
        _replace = replace;
    }

    /// <summary>After a write: the cache holds at least one refresh token.</summary>
    public bool HasRefreshToken { get; private set; }

    /// <summary>True when a refresh's write lost to a newer blob (or a deletion) and was not written.</summary>
    public bool LostRace { get; private set; }

    /// <summary>A store or decryption failure inside an MSAL callback.</summary>
    public ExceptionDispatchInfo? Failure { get; private set; }

    public void Bind(ITokenCache cache)
    {
        cache.SetBeforeAccessAsync(BeforeAccessAsync);
        cache.SetAfterAccessAsync(AfterAccessAsync);
    }

    private async Task BeforeAccessAsync(TokenCacheNotificationArgs args)
    {
        if (_replace)
        {
            // A new grant never reads the old blob: MSAL's in-memory cache of this instance is the whole truth.
            return;
        }

        try
        {
            var stored = await _store.GetVersionedAsync(_key, args.CancellationToken);
            if (stored is not { } value)
            {
                _version = null;
                args.TokenCache.DeserializeMsalV3(null, shouldClearExistingCache: true);
                return;
            }

            var plain = _protector.Unprotect(value.Value, _context, out _);
            try
            {
                args.TokenCache.DeserializeMsalV3(plain, shouldClearExistingCache: true);
            }
            finally
            {
                Array.Clear(plain);
            }

            _version = value.Version;
        }
        catch (Exception ex)
        {
            Failure = ExceptionDispatchInfo.Capture(ex);
            throw;
        }
    }

    private async Task AfterAccessAsync(TokenCacheNotificationArgs args)
    {
        if (!args.HasStateChanged)
        {
            return;
        }

        try
        {
            var plain = args.TokenCache.SerializeMsalV3();
            byte[] blob;
            try
            {
                HasRefreshToken = ContainsRefreshToken(plain);
                blob = _protector.Protect(plain, _context);
            }
            finally
            {
                Array.Clear(plain);
            }

            // Not cancelled half-way: the provider may already have rotated the refresh token; losing it is worse.
            var written = await _store.PutVersionedAsync(_key, blob, _replace ? "*" : _version, CancellationToken.None);
            if (written is null)
            {
                LostRace = true;
                return;
            }

            _version = written;
        }
        catch (Exception ex)
        {
            Failure = ExceptionDispatchInfo.Capture(ex);
            throw;
        }
    }

    /// <summary>MSAL's v3 cache JSON keeps refresh tokens under a top-level <c>RefreshToken</c> object.</summary>
    private static bool ContainsRefreshToken(byte[] serialized)
    {
        using var document = JsonDocument.Parse(serialized);
        return document.RootElement.ValueKind == JsonValueKind.Object
            && document.RootElement.TryGetProperty("RefreshToken", out var tokens)
            && tokens.ValueKind == JsonValueKind.Object
            && tokens.EnumerateObject().Any();
    }
}
