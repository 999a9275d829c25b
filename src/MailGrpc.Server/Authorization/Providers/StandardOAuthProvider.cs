using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Duende.IdentityModel.Client;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.V1;

namespace MailGrpc.Server.Authorization.Providers;

/// <summary>
/// Google and any OAuth2/OIDC provider, through Duende.IdentityModel: endpoints from the issuer's discovery document
/// (cached per issuer), PKCE S256, refresh-token rotation when the provider rotates, RFC 8628 device flow and RFC 7009
/// revocation when the provider offers them.
/// </summary>
internal sealed class StandardOAuthProvider(IHttpClientFactory httpClients, TimeProvider time) : IOAuthProvider
{
    public const string GoogleAuthority = "https://accounts.google.com";
    public const string GoogleMailScope = "https://mail.google.com/";

    private static readonly string[] GoogleEndpointBases = ["https://oauth2.googleapis.com", "https://www.googleapis.com", "https://openidconnect.googleapis.com"];

    private readonly ConcurrentDictionary<string, DiscoveryCache> _discovery = new(StringComparer.Ordinal);

    private HttpClient Http => httpClients.CreateClient(AuthorizationServiceCollectionExtensions.OAuthHttpClient);

    public async Task<AuthorizationUrl> CreateAuthorizationUrlAsync(OAuthClient client, MailboxRecord mailbox, string redirectUri, string state, string? loginHint, CancellationToken cancellationToken)
    {
        var disco = await DiscoverAsync(client, cancellationToken);
        var verifier = CreateVerifier();
        var extra = new Parameters();
        string? prompt = null;
        if (IsGoogle(client))
        {
            // Without these Google issues no refresh token (or only on the very first consent).
            extra.Add("access_type", "offline");
            prompt = "consent";
        }

        var url = new RequestUrl(disco.AuthorizeEndpoint!).CreateAuthorizeUrl(
            clientId: client.Options.ClientId,
            responseType: "code",
            scope: string.Join(' ', ScopesOf(client)),
            redirectUri: redirectUri,
            state: state,
            loginHint: loginHint,
            prompt: prompt,
            codeChallenge: Challenge(verifier),
            codeChallengeMethod: "S256",
            extra: extra);
        return new AuthorizationUrl(url, verifier);
    }

    public async Task<TokenGrant> RedeemCodeAsync(OAuthClient client, MailboxRecord mailbox, string code, string codeVerifier, string redirectUri, CancellationToken cancellationToken)
    {
        var disco = await DiscoverAsync(client, cancellationToken);
        var response = await Http.RequestAuthorizationCodeTokenAsync(new AuthorizationCodeTokenRequest
        {
            Address = disco.TokenEndpoint,
            ClientId = client.Options.ClientId,
            ClientSecret = client.Options.ClientSecret,
            ClientCredentialStyle = ClientCredentialStyle.PostBody,
            Code = code,
            RedirectUri = redirectUri,
            CodeVerifier = codeVerifier,
        }, cancellationToken);
        return ToGrant(client, response, cancellationToken);
    }

    public Task<TokenGrant> RefreshAsync(OAuthClient client, MailboxRecord mailbox, StoredCredential current, CancellationToken cancellationToken)
    {
        if (current.Kind == CredentialKind.AppOnly)
        {
            return ClientCredentialsAsync(client, mailbox, cancellationToken);
        }

        if (string.IsNullOrEmpty(current.RefreshToken))
        {
            throw new OAuthProviderException(OAuthFailureKind.InvalidGrant, "invalid_grant", "No refresh token is held (the provider issued none; was offline access granted?).");
        }

        return RedeemRefreshTokenAsync(client, mailbox, current.RefreshToken, cancellationToken);
    }

    public async Task<TokenGrant> RedeemRefreshTokenAsync(OAuthClient client, MailboxRecord mailbox, string refreshToken, CancellationToken cancellationToken)
    {
        var disco = await DiscoverAsync(client, cancellationToken);
        var response = await Http.RequestRefreshTokenAsync(new RefreshTokenRequest
        {
            Address = disco.TokenEndpoint,
            ClientId = client.Options.ClientId,
            ClientSecret = client.Options.ClientSecret,
            ClientCredentialStyle = ClientCredentialStyle.PostBody,
            RefreshToken = refreshToken,
        }, cancellationToken);
        return ToGrant(client, response, cancellationToken);
    }

    public async Task<TokenGrant> ClientCredentialsAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        if (IsGoogle(client))
        {
            throw new OAuthProviderException(OAuthFailureKind.NotSupported, ErrorReasons.ClientCredentialsNotSupported, "Google offers no client-credentials access to Gmail POP.");
        }

        var disco = await DiscoverAsync(client, cancellationToken);
        var response = await Http.RequestClientCredentialsTokenAsync(new ClientCredentialsTokenRequest
        {
            Address = disco.TokenEndpoint,
            ClientId = client.Options.ClientId,
            ClientSecret = client.Options.ClientSecret,
            ClientCredentialStyle = ClientCredentialStyle.PostBody,
            Scope = string.Join(' ', client.Options.Scopes),
        }, cancellationToken);
        return ToGrant(client, response, cancellationToken);
    }

    public async Task<DeviceAuthorizationStart> StartDeviceAuthorizationAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        var disco = await DiscoverAsync(client, cancellationToken);
        if (string.IsNullOrEmpty(disco.DeviceAuthorizationEndpoint))
        {
            throw new OAuthProviderException(OAuthFailureKind.NotSupported, ErrorReasons.DeviceFlowNotSupported, "The provider's discovery document has no device_authorization_endpoint.");
        }

        var response = await Http.RequestDeviceAuthorizationAsync(new DeviceAuthorizationRequest
        {
            Address = disco.DeviceAuthorizationEndpoint,
            ClientId = client.Options.ClientId,
            ClientSecret = client.Options.ClientSecret,
            ClientCredentialStyle = ClientCredentialStyle.PostBody,
            Scope = string.Join(' ', ScopesOf(client)),
        }, cancellationToken);
        ThrowIfError(response, cancellationToken);
        if (string.IsNullOrEmpty(response.DeviceCode) || string.IsNullOrEmpty(response.UserCode) || string.IsNullOrEmpty(response.VerificationUri))
        {
            throw new OAuthProviderException(OAuthFailureKind.Other, "invalid_response", "The device authorization response lacks device_code, user_code or verification_uri.");
        }

        return new DeviceAuthorizationStart(
            response.DeviceCode,
            response.UserCode,
            response.VerificationUri,
            response.VerificationUriComplete,
            time.GetUtcNow().AddSeconds(response.ExpiresIn is > 0 ? response.ExpiresIn.Value : 600),
            TimeSpan.FromSeconds(response.Interval > 0 ? response.Interval : 5));
    }

    public async Task<TokenGrant?> PollDeviceAuthorizationAsync(OAuthClient client, MailboxRecord mailbox, DeviceAuthorizationStart device, CancellationToken cancellationToken)
    {
        var disco = await DiscoverAsync(client, cancellationToken);
        var response = await Http.RequestDeviceTokenAsync(new DeviceTokenRequest
        {
            Address = disco.TokenEndpoint,
            ClientId = client.Options.ClientId,
            ClientSecret = client.Options.ClientSecret,
            ClientCredentialStyle = ClientCredentialStyle.PostBody,
            DeviceCode = device.DeviceCode,
        }, cancellationToken);
        if (response.IsError && response.Error == "authorization_pending")
        {
            return null;
        }

        if (response.IsError && response.Error == "slow_down")
        {
            throw new OAuthProviderException(OAuthFailureKind.Transient, "slow_down", null);
        }

        return ToGrant(client, response, cancellationToken);
    }

    public async Task<bool> RevokeAsync(OAuthClient client, MailboxRecord mailbox, StoredCredential current, CancellationToken cancellationToken)
    {
        var disco = await DiscoverAsync(client, cancellationToken);
        if (string.IsNullOrEmpty(disco.RevocationEndpoint))
        {
            return false;
        }

        var (token, hint) = !string.IsNullOrEmpty(current.RefreshToken) ? (current.RefreshToken, "refresh_token") : (current.AccessToken, "access_token");
        if (string.IsNullOrEmpty(token))
        {
            return false;
        }

        var response = await Http.RevokeTokenAsync(new TokenRevocationRequest
        {
            Address = disco.RevocationEndpoint,
            ClientId = client.Options.ClientId,
            ClientSecret = client.Options.ClientSecret,
            ClientCredentialStyle = ClientCredentialStyle.PostBody,
            Token = token,
            TokenTypeHint = hint,
        }, cancellationToken);
        ThrowIfError(response, cancellationToken);
        return true;
    }

    public Task ForgetAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task<DiscoveryDocumentResponse> DiscoverAsync(OAuthClient client, CancellationToken cancellationToken)
    {
        var authority = AuthorityOf(client);
        var cache = _discovery.GetOrAdd(authority, a =>
        {
            var policy = new DiscoveryPolicy { Authority = a, RequireHttps = true };
            if (a == GoogleAuthority)
            {
                foreach (var endpointBase in GoogleEndpointBases)
                {
                    policy.AdditionalEndpointBaseAddresses.Add(endpointBase);
                }
            }

            return new DiscoveryCache(a, () => Http, policy) { CacheDuration = TimeSpan.FromHours(1) };
        });
        var disco = await cache.GetAsync().WaitAsync(cancellationToken);
        if (disco.IsError)
        {
            // Not cached: the next call tries again (the provider may be back).
            cache.Refresh();
            var transient = disco.ErrorType == ResponseErrorType.Exception || (int)disco.HttpStatusCode >= 500 || disco.HttpStatusCode == HttpStatusCode.TooManyRequests;
            throw new OAuthProviderException(transient ? OAuthFailureKind.Transient : OAuthFailureKind.ClientRejected, transient ? "discovery_unavailable" : "discovery_failed", Trim(disco.Error));
        }

        return disco;
    }

    private TokenGrant ToGrant(OAuthClient client, TokenResponse response, CancellationToken cancellationToken)
    {
        ThrowIfError(response, cancellationToken);
        if (string.IsNullOrEmpty(response.AccessToken))
        {
            throw new OAuthProviderException(OAuthFailureKind.Other, "invalid_response", "The token response has no access_token.");
        }

        var lifetime = response.ExpiresIn > 0 ? response.ExpiresIn : 3600;
        var scopes = string.IsNullOrWhiteSpace(response.Scope)
            ? (IReadOnlyList<string>)ScopesOf(client)
            : response.Scope.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return new TokenGrant(response.AccessToken, string.IsNullOrEmpty(response.RefreshToken) ? null : response.RefreshToken, time.GetUtcNow().AddSeconds(lifetime), scopes);
    }

    private static void ThrowIfError(ProtocolResponse response, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!response.IsError)
        {
            return;
        }

        var status = (int)response.HttpStatusCode;
        if (response.ErrorType == ResponseErrorType.Exception || status >= 500 || response.HttpStatusCode == HttpStatusCode.TooManyRequests || status == 0)
        {
            throw new OAuthProviderException(OAuthFailureKind.Transient, status == 0 ? "provider_unreachable" : $"http_{status}", Trim(response.ErrorType == ResponseErrorType.Exception ? response.Exception?.GetType().Name : response.HttpErrorReason), response.Exception);
        }

        var description = response switch
        {
            TokenResponse token => token.ErrorDescription,
            DeviceAuthorizationResponse device => device.ErrorDescription,
            _ => null,
        } ?? ProblemDetail(response);
        var error = string.IsNullOrEmpty(response.Error) || response.ErrorType != ResponseErrorType.Protocol ? $"http_{status}" : response.Error;
        var kind = OAuthProviderException.KindOf(error);
        if (description?.Contains("code_verifier", StringComparison.OrdinalIgnoreCase) == true || description?.Contains("PKCE", StringComparison.OrdinalIgnoreCase) == true)
        {
            kind = OAuthFailureKind.PkceFailed;
        }

        throw new OAuthProviderException(kind, error, Trim(description));
    }

    private static string? ProblemDetail(ProtocolResponse response)
    {
        // Some servers answer with RFC 9457 problem details instead of an OAuth error object.
        try
        {
            return response.Json is { } json && json.TryGetProperty("detail", out var detail) ? detail.GetString() : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static string? Trim(string? value) => value is { Length: > 300 } ? value[..300] : value;

    private static bool IsGoogle(OAuthClient client) => client.Options.Provider == OAuthProviderKind.Google;

    private static string AuthorityOf(OAuthClient client) =>
        IsGoogle(client) && string.IsNullOrEmpty(client.Options.Authority) ? GoogleAuthority : client.Options.Authority!.TrimEnd('/');

    private static List<string> ScopesOf(OAuthClient client)
    {
        if (client.Options.Scopes.Count > 0)
        {
            return client.Options.Scopes;
        }

        return IsGoogle(client) ? [GoogleMailScope] : ["openid", "email", "offline_access"];
    }

    private static string CreateVerifier() => Base64Url(RandomNumberGenerator.GetBytes(32));

    private static string Challenge(string verifier) => Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
