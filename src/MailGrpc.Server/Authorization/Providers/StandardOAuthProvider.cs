using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Duende.IdentityModel;
using Duende.IdentityModel.Client;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;

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
        var scopes = ScopesOf(client);
        if (IsGoogle(client))
        {
            // Without these Google issues no refresh token (or only on the very first consent).
            extra.Add("access_type", "offline");
            prompt = client.Options.PromptConsent == false ? null : "consent";
        }
        else if (client.Options.PromptConsent ?? scopes.Contains("offline_access", StringComparer.Ordinal))
        {
            // OpenID Connect Core §11: without prompt=consent a provider may ignore offline_access and issue no refresh token.
            prompt = "consent";
        }

        var url = new RequestUrl(disco.AuthorizeEndpoint!).CreateAuthorizeUrl(
            clientId: client.Options.ClientId,
            responseType: "code",
            scope: string.Join(' ', scopes),
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
        var request = new AuthorizationCodeTokenRequest
        {
            Address = disco.TokenEndpoint,
            Code = code,
            RedirectUri = redirectUri,
            CodeVerifier = codeVerifier,
        };
        ClientAuthentication.Apply(request, client, disco, time);
        var response = await Http.RequestAuthorizationCodeTokenAsync(request, cancellationToken);
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
            // No provider is asked, so no provider error is claimed.
            throw new OAuthProviderException(OAuthFailureKind.NoRefreshToken, ErrorReasons.NoRefreshToken, "No refresh token is held: the provider issued none at authorization.");
        }

        return RedeemRefreshTokenAsync(client, mailbox, current.RefreshToken, cancellationToken);
    }

    public async Task<TokenGrant> RedeemRefreshTokenAsync(OAuthClient client, MailboxRecord mailbox, string refreshToken, CancellationToken cancellationToken)
    {
        var disco = await DiscoverAsync(client, cancellationToken);
        var request = new RefreshTokenRequest
        {
            Address = disco.TokenEndpoint,
            RefreshToken = refreshToken,
        };
        ClientAuthentication.Apply(request, client, disco, time);
        var response = await Http.RequestRefreshTokenAsync(request, cancellationToken);
        return ToGrant(client, response, cancellationToken);
    }

    public async Task<TokenGrant> ClientCredentialsAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        if (IsGoogle(client))
        {
            throw new OAuthProviderException(OAuthFailureKind.NotSupported, ErrorReasons.ClientCredentialsNotSupported, "Google offers no client-credentials access to Gmail POP.");
        }

        var disco = await DiscoverAsync(client, cancellationToken);
        var request = new ClientCredentialsTokenRequest
        {
            Address = disco.TokenEndpoint,
            Scope = string.Join(' ', client.Options.Scopes),
        };
        ClientAuthentication.Apply(request, client, disco, time);
        var response = await Http.RequestClientCredentialsTokenAsync(request, cancellationToken);
        return ToGrant(client, response, cancellationToken);
    }

    public async Task<DeviceAuthorizationStart> StartDeviceAuthorizationAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        var disco = await DiscoverAsync(client, cancellationToken);
        if (string.IsNullOrEmpty(disco.DeviceAuthorizationEndpoint))
        {
            throw new OAuthProviderException(OAuthFailureKind.NotSupported, ErrorReasons.DeviceFlowNotSupported, "The provider's discovery document has no device_authorization_endpoint.");
        }

        var request = new DeviceAuthorizationRequest
        {
            Address = disco.DeviceAuthorizationEndpoint,
            Scope = string.Join(' ', ScopesOf(client)),
        };
        ClientAuthentication.Apply(request, client, disco, time);
        var response = await Http.RequestDeviceAuthorizationAsync(request, cancellationToken);
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
        var request = new DeviceTokenRequest
        {
            Address = disco.TokenEndpoint,
            DeviceCode = device.DeviceCode,
        };
        ClientAuthentication.Apply(request, client, disco, time);
        var response = await Http.RequestDeviceTokenAsync(request, cancellationToken);
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

        var request = new TokenRevocationRequest
        {
            Address = disco.RevocationEndpoint,
            Token = token,
            TokenTypeHint = hint,
        };
        ClientAuthentication.Apply(request, client, disco, time);
        var response = await Http.RevokeTokenAsync(request, cancellationToken);
        ThrowIfError(response, cancellationToken);
        return true;
    }

    public Task ForgetAsync(OAuthClient client, MailboxRecord mailbox, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task<CallbackIssuer?> CallbackIssuerAsync(OAuthClient client, CancellationToken cancellationToken)
    {
        var disco = await DiscoverAsync(client, cancellationToken);
        return string.IsNullOrEmpty(disco.Issuer)
            ? null
            : new CallbackIssuer(disco.Issuer, disco.TryGetBoolean(OidcConstants.Discovery.AuthorizationResponseIssParameterSupported) == true);
    }

    public async Task<ConsentedIdentity?> IdentifyAsync(OAuthClient client, TokenGrant grant, CancellationToken cancellationToken)
    {
        var disco = await DiscoverAsync(client, cancellationToken);
        if (string.IsNullOrEmpty(disco.UserInfoEndpoint) || !grant.Scopes.Contains("openid", StringComparer.Ordinal))
        {
            return null;
        }

        // The access token was just issued to us over TLS by the discovered token endpoint; the userinfo endpoint of the
        // same discovery document says whose it is (OpenID Connect Core §5.3).
        var response = await Http.GetUserInfoAsync(new UserInfoRequest { Address = disco.UserInfoEndpoint, Token = grant.AccessToken }, cancellationToken);
        ThrowIfError(response, cancellationToken);
        var claim = IOAuthProvider.IdentityClaimOf(client);
        var value = response.Claims.FirstOrDefault(c => c.Type == claim)?.Value;
        var verified = claim != "email" || response.Claims.FirstOrDefault(c => c.Type == "email_verified")?.Value is not ("false" or "False");
        if (IsGoogle(client) && claim == "email")
        {
            // Google: only a verified address identifies the account.
            verified = response.Claims.FirstOrDefault(c => c.Type == "email_verified")?.Value is "true" or "True";
        }

        return new ConsentedIdentity(claim, value, verified, "userinfo");
    }

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
        } ?? JsonString(response, "error_description") ?? ProblemDetail(response);
        var error = !string.IsNullOrEmpty(response.Error) && response.ErrorType == ResponseErrorType.Protocol ? response.Error : JsonError(response) ?? $"http_{status}";
        var kind = OAuthProviderException.KindOf(error);
        if (response.HttpStatusCode == HttpStatusCode.Unauthorized && kind == OAuthFailureKind.Other)
        {
            // RFC 6749 §5.2: 401 is the client authentication failure (invalid_client), whatever the body says.
            kind = OAuthFailureKind.ClientRejected;
        }

        if (description?.Contains("code_verifier", StringComparison.OrdinalIgnoreCase) == true || description?.Contains("PKCE", StringComparison.OrdinalIgnoreCase) == true)
        {
            kind = OAuthFailureKind.PkceFailed;
        }

        throw new OAuthProviderException(kind, error, Trim(description));
    }

    private static string? JsonError(ProtocolResponse response) => JsonString(response, "error");

    private static string? JsonString(ProtocolResponse response, string name)
    {
        try
        {
            return response.Json is { ValueKind: System.Text.Json.JsonValueKind.Object } json && json.TryGetProperty(name, out var e) && e.ValueKind == System.Text.Json.JsonValueKind.String ? e.GetString() : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
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

        // openid + email let MailGrpc ask the userinfo endpoint who consented.
        return IsGoogle(client) ? [GoogleMailScope, "openid", "email"] : ["openid", "email", "offline_access"];
    }

    private static string CreateVerifier() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    private static string Challenge(string verifier) => Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
}
