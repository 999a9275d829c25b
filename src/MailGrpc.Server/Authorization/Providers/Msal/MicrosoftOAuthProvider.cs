using System.Net;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Identity.Client;

namespace MailGrpc.Server.Authorization.Providers.Msal;

/// <summary>
/// Microsoft Entra through MSAL.NET: one confidential client per operation, whose user token cache is the mailbox's
/// encrypted blob (<see cref="MsalMailboxCache"/>). MSAL keeps the refresh token in that blob; the stored credential
/// keeps the access token and MSAL's home account id. The broker's lock and single-flight wrap every refresh, so MSAL's
/// per-process cache lock is never the only guard. MSAL's own retry-once on 5xx is off: the broker retries.
/// </summary>
internal sealed partial class MicrosoftOAuthProvider(
    IStateStore store,
    SecretProtector protector,
    IMsalHttpClientFactory httpClientFactory,
    ILogger<MicrosoftOAuthProvider> logger) : IOAuthProvider
{
    public const string DefaultCloud = "https://login.microsoftonline.com";
    public const string PopDelegatedScope = "https://outlook.office.com/POP.AccessAsUser.All";
    public const string AppOnlyScope = "https://outlook.office365.com/.default";

    // MSAL adds these itself and refuses to be given them twice.
    private static readonly HashSet<string> ReservedScopes = new(["openid", "profile", "offline_access"], StringComparer.OrdinalIgnoreCase);

    public async Task<AuthorizationUrl> CreateAuthorizationUrlAsync(OAuthClient client, MailboxRecord mailbox, string redirectUri, string state, string? loginHint, CancellationToken cancellationToken)
    {
        var app = Build(client, redirectUri, cache: null);
        string? verifier = null;
        var url = await RunAsync(null, () =>
        {
            var request = app.GetAuthorizationRequestUrl(DelegatedScopes(client)).WithRedirectUri(redirectUri).WithPkce(out verifier);
            if (!string.IsNullOrEmpty(loginHint))
            {
                request = request.WithLoginHint(loginHint);
            }

            return request.ExecuteAsync(cancellationToken);
        }, cancellationToken);
        return new AuthorizationUrl(WithState(url, state), verifier!);
    }

    public async Task<TokenGrant> RedeemCodeAsync(OAuthClient client, MailboxRecord mailbox, string code, string codeVerifier, string redirectUri, CancellationToken cancellationToken)
    {
        var cache = new MsalMailboxCache(store, protector, mailbox.Tenant, mailbox.Id, replace: true);
        var app = Build(client, redirectUri, cache);
        var result = await RunAsync(cache, () => app.AcquireTokenByAuthorizationCode(DelegatedScopes(client), code).WithPkceCodeVerifier(codeVerifier).ExecuteAsync(cancellationToken), cancellationToken);
        return ToGrant(result, cache);
    }

    public async Task<TokenGrant> RefreshAsync(OAuthClient client, MailboxRecord mailbox, StoredCredential current, CancellationToken cancellationToken)
    {
        if (current.Kind == CredentialKind.AppOnly)
        {
            return await ClientCredentialsAsync(client, mailbox, cancellationToken);
        }

        if (string.IsNullOrEmpty(current.MsalAccountId))
        {
            throw new OAuthProviderException(OAuthFailureKind.InvalidGrant, "no_account_found", "No MSAL account is recorded for the mailbox.");
        }

        var cache = new MsalMailboxCache(store, protector, mailbox.Tenant, mailbox.Id, replace: false);
        var app = Build(client, redirectUri: null, cache);
        var account = await RunAsync(cache, () => app.GetAccountAsync(current.MsalAccountId), cancellationToken)
            ?? throw new OAuthProviderException(OAuthFailureKind.InvalidGrant, "no_account_found", "MSAL's token cache of the mailbox holds no account (it was lost or never written).");

        // Always to the token endpoint: the broker decided the token is due (or refused), and MSAL's own expiry margin
        // may differ from MailGrpc:Tokens:RefreshMargin.
        var result = await RunAsync(cache, () => app.AcquireTokenSilent(DelegatedScopes(client), account).WithForceRefresh(true).ExecuteAsync(cancellationToken), cancellationToken);
        if (cache.LostRace)
        {
            LogCacheRaceLost(logger, mailbox.Tenant, mailbox.Id);
        }

        return ToGrant(result, cache);
    }

    public async Task<TokenGrant> RedeemRefreshTokenAsync(OAuthClient client, MailboxRecord mailbox, string refreshToken, CancellationToken cancellationToken)
    {
        var cache = new MsalMailboxCache(store, protector, mailbox.Tenant, mailbox.Id, replace: true);
        var app = Build(client, redirectUri: null, cache);

        // MSAL's migration path: a refresh token obtained elsewhere seeds the cache (ConfidentialClientApplication implements it explicitly).
        var result = await RunAsync(cache, () => ((IByRefreshToken)app).AcquireTokenByRefreshToken(DelegatedScopes(client), refreshToken).ExecuteAsync(cancellationToken), cancellationToken);
        return ToGrant(result, cache);
    }

    public async Task<TokenGrant> ClientCredentialsAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        // The app token cache of a fresh instance is empty, so this always asks Entra; the token is kept in the credential.
        var app = Build(client, redirectUri: null, cache: null);
        var result = await RunAsync(null, () => app.AcquireTokenForClient(AppOnlyScopes(client)).ExecuteAsync(cancellationToken), cancellationToken);

        // Entra issues an app-only token even when no application permission was ever consented: it just has no roles.
        // Such a token can never open a mailbox, so the mailbox must not become ACTIVE on it.
        if (AppOnlyRoles.IsJwtWithoutRoles(result.AccessToken))
        {
            throw WithEntra(
                new OAuthProviderException(OAuthFailureKind.ClientRejected, "admin_consent_required", "Entra issued an app-only token without roles: no application permission (POP.AccessAsApp) has admin consent."),
                new EntraError(200, "admin_consent_required", null, string.Empty, null, "The app-only token carries no roles claim.", null, result.CorrelationId.ToString(), null, null) { ForcedReason = ErrorReasons.OAuthAdminConsentRequired });
        }

        return new TokenGrant(result.AccessToken, null, result.ExpiresOn, [.. result.Scopes]);
    }

    public Task<DeviceAuthorizationStart> StartDeviceAuthorizationAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken) =>
        throw new OAuthProviderException(
            OAuthFailureKind.NotSupported,
            ErrorReasons.DeviceFlowNotSupported,
            "MSAL's confidential client has no device-code flow; use BeginAuthorization (authorization code + PKCE) or client credentials.");

    public Task<TokenGrant?> PollDeviceAuthorizationAsync(OAuthClient client, MailboxRecord mailbox, DeviceAuthorizationStart device, CancellationToken cancellationToken) =>
        throw new OAuthProviderException(OAuthFailureKind.NotSupported, ErrorReasons.DeviceFlowNotSupported, "MSAL's confidential client has no device-code flow.");

    /// <summary>Entra has no revocation endpoint for refresh tokens (only revokeSignInSessions on Graph, for every app of the user).</summary>
    public Task<bool> RevokeAsync(OAuthClient client, MailboxRecord mailbox, StoredCredential current, CancellationToken cancellationToken) => Task.FromResult(false);

    public Task ForgetAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken) =>
        store.DeleteAsync([StoreKeys.MsalCache(mailbox.Tenant, mailbox.Id)], cancellationToken);

    /// <summary>The authority: <c>Authority</c> when configured (sovereign clouds, tests), else the public cloud with <c>TenantId</c>.</summary>
    public static string AuthorityOf(OAuthClientOptions options) => !string.IsNullOrEmpty(options.Authority)
        ? options.Authority.TrimEnd('/')
        : $"{DefaultCloud}/{(string.IsNullOrEmpty(options.TenantId) ? "organizations" : options.TenantId)}";

    public static List<string> DelegatedScopes(OAuthClient client)
    {
        var scopes = client.Options.Scopes.Where(s => !ReservedScopes.Contains(s)).ToList();
        return scopes.Count > 0 ? scopes : [PopDelegatedScope];
    }

    private static string[] AppOnlyScopes(OAuthClient client)
    {
        // Client credentials take exactly one resource's ".default"; a configured one wins (e.g. a sovereign cloud's Exchange).
        var configured = client.Options.Scopes.FirstOrDefault(s => s.EndsWith("/.default", StringComparison.Ordinal));
        return [configured ?? AppOnlyScope];
    }

    private IConfidentialClientApplication Build(OAuthClient client, string? redirectUri, MsalMailboxCache? cache)
    {
        var method = ClientAuthentication.MethodOf(client.Options, null);
        if (method is not (ClientAuthentication.PrivateKeyJwt or ClientAuthentication.Basic or ClientAuthentication.Post) || (method != ClientAuthentication.PrivateKeyJwt && string.IsNullOrEmpty(client.Options.ClientSecret)))
        {
            throw new OAuthProviderException(OAuthFailureKind.ClientRejected, "invalid_client", $"The OAuth client '{client.Name}' has no ClientSecret or ClientCertificateFile; MSAL's confidential client needs one.");
        }

        var builder = ConfidentialClientApplicationBuilder.Create(client.Options.ClientId)
            .WithAuthority(AuthorityOf(client.Options));
        // A certificate credential (private_key_jwt, what Entra admins increasingly require) or the client secret.
        builder = method == ClientAuthentication.PrivateKeyJwt
            ? builder.WithCertificate(ClientAuthentication.LoadCertificate(client.Options), sendX5C: false)
            : builder.WithClientSecret(client.Options.ClientSecret);
        builder = builder
            // The authority is configured, not discovered from user input; Microsoft's clouds are known to MSAL anyway.
            .WithInstanceDiscovery(false)
            .WithLegacyCacheCompatibility(false)
            .WithHttpClientFactory(httpClientFactory, retryOnceOn5xx: false);
        if (redirectUri is not null)
        {
            builder = builder.WithRedirectUri(redirectUri);
        }

        var app = builder.Build();
        cache?.Bind(app.UserTokenCache);
        return app;
    }

    private static TokenGrant ToGrant(AuthenticationResult result, MsalMailboxCache cache) =>
        new(result.AccessToken, null, result.ExpiresOn, [.. result.Scopes])
        {
            MsalAccountId = result.Account?.HomeAccountId?.Identifier,
            MsalHasRefreshToken = cache.HasRefreshToken,
            IdTokenClaims = result.ClaimsPrincipal?.Claims
                .GroupBy(c => c.Type, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.First().Value, StringComparer.Ordinal),
        };

    public Task<CallbackIssuer?> CallbackIssuerAsync(OAuthClient client, CancellationToken cancellationToken) =>
        // Entra does not send `iss` in authorization responses (nor advertise it); with `common`/`organizations` the issuer
        // is the user's tenant and not known in advance. A callback that does carry `iss` is compared with the authority.
        Task.FromResult<CallbackIssuer?>(null);

    public Task<ConsentedIdentity?> IdentifyAsync(OAuthClient client, TokenGrant grant, CancellationToken cancellationToken)
    {
        // MSAL received the ID token from the token endpoint over TLS and checked its audience and issuer.
        if (grant.IdTokenClaims is not { Count: > 0 } claims)
        {
            return Task.FromResult<ConsentedIdentity?>(null);
        }

        var claim = IOAuthProvider.IdentityClaimOf(client);
        var value = claims.GetValueOrDefault(claim);
        if (value is null && string.IsNullOrWhiteSpace(client.Options.IdentityClaim))
        {
            // Work accounts without preferred_username still carry upn.
            value = claims.GetValueOrDefault("upn");
        }

        return Task.FromResult<ConsentedIdentity?>(new ConsentedIdentity(claim, value, true, "id_token"));
    }

    /// <summary>MSAL does not carry our <c>state</c>: put MailGrpc's (replacing any MSAL made up) on the URL.</summary>
    private static string WithState(Uri url, string state)
    {
        var query = new QueryBuilder(QueryHelpers.ParseQuery(url.Query)
            .Where(p => p.Key != "state")
            .SelectMany(p => p.Value.Select(v => new KeyValuePair<string, string>(p.Key, v ?? string.Empty))))
        {
            { "state", state },
        };
        return url.GetLeftPart(UriPartial.Path) + query.ToQueryString().ToUriComponent();
    }

    /// <summary>Runs an MSAL call and turns its failures into the same <see cref="OAuthProviderException"/> shapes as the standard provider.</summary>
    private static async Task<T> RunAsync<T>(MsalMailboxCache? cache, Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call();
        }
        catch (Exception) when (cache?.Failure is { } failure)
        {
            // A store error inside MSAL's cache callback: surface it as itself (e.g. STORE_UNAVAILABLE), whatever MSAL made of it.
            failure.Throw();
            throw;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (MsalServiceException ex) when (EntraError.From(ex) is { Classification: { } classified } entra)
        {
            // Entra's own code decides (AADSTS7000215 → ClientSecret, 700016 → ClientId, 90002 → TenantId, consent,
            // Conditional Access, 429): never MSAL's generic category, never a cut description.
            // Consent missing for a delegated grant (MSAL: UI required) needs the person again, like any dead grant.
            var kind = ex is MsalUiRequiredException && classified.Reason == ErrorReasons.OAuthAdminConsentRequired ? OAuthFailureKind.InvalidGrant : classified.Kind;
            throw WithEntra(new OAuthProviderException(kind, entra.Error, entra.Description, ex), entra);
        }
        catch (MsalUiRequiredException ex)
        {
            throw WithEntra(new OAuthProviderException(OAuthFailureKind.InvalidGrant, ex.ErrorCode, Describe(ex), ex), EntraError.From(ex));
        }
        catch (MsalServiceException ex) when (IsTransient(ex))
        {
            throw WithEntra(new OAuthProviderException(OAuthFailureKind.Transient, ex.StatusCode > 0 ? $"http_{ex.StatusCode}" : ex.ErrorCode, Describe(ex), ex), EntraError.From(ex));
        }
        catch (MsalServiceException ex)
        {
            var description = Describe(ex);
            var kind = OAuthProviderException.KindOf(ex.ErrorCode);
            if (description?.Contains("code_verifier", StringComparison.OrdinalIgnoreCase) == true || description?.Contains("PKCE", StringComparison.OrdinalIgnoreCase) == true)
            {
                kind = OAuthFailureKind.PkceFailed;
            }

            throw WithEntra(new OAuthProviderException(kind, ex.ErrorCode, description, ex), EntraError.From(ex));
        }
        catch (MsalClientException ex) when (IsTransient(ex))
        {
            throw new OAuthProviderException(OAuthFailureKind.Transient, ex.ErrorCode, Describe(ex), ex);
        }
        catch (MsalClientException ex)
        {
            throw new OAuthProviderException(OAuthFailureKind.Other, ex.ErrorCode, Describe(ex), ex);
        }
        catch (HttpRequestException ex)
        {
            throw new OAuthProviderException(OAuthFailureKind.Transient, "provider_unreachable", ex.GetType().Name, ex);
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
        {
            throw new OAuthProviderException(OAuthFailureKind.Transient, "provider_timeout", ex.GetType().Name, ex);
        }
    }

    private static bool IsTransient(MsalException ex) =>
        (ex is MsalServiceException service && (service.StatusCode >= 500 || service.StatusCode == (int)HttpStatusCode.TooManyRequests))
        || ex.ErrorCode is MsalError.RequestTimeout or MsalError.ServiceNotAvailable or "temporarily_unavailable" or "server_error"
        || ex.InnerException is HttpRequestException or TimeoutException or OperationCanceledException;

    private static OAuthProviderException WithEntra(OAuthProviderException exception, EntraError? entra)
    {
        if (entra is not null)
        {
            exception.Data[EntraError.DataKey] = entra;
        }

        return exception;
    }

    /// <summary>Entra's <c>AADSTSnnnnn: ...</c> description when there is one, else the first line of MSAL's message; never holds a secret.</summary>
    private static string? Describe(MsalException ex)
    {
        if (EntraError.From(ex) is { Code: not null } entra)
        {
            return entra.Description;
        }

        var message = ex.Message;
        var end = message.IndexOfAny(['\r', '\n']);
        if (end >= 0)
        {
            message = message[..end];
        }

        return message.Length > 300 ? message[..300] : message;
    }

    [LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Warning, Message = "The MSAL cache of {Tenant}/{MailboxId} changed during a refresh (new consent or revocation); the refresh's cache was not written")]
    private static partial void LogCacheRaceLost(ILogger logger, string tenant, string mailboxId);
}
