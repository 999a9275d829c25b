using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;

namespace MailGrpc.Tests.Authorization.Fast;

/// <summary>
/// An in-process OpenID provider behind the server's OAuth <see cref="HttpClient"/> (no socket): discovery, authorize
/// (as a consenting browser would), token (authorization_code with PKCE S256, refresh_token), userinfo and revocation.
/// As strict as the rig's node-oidc-provider where the broker depends on it: client_secret_basic is required, a code and
/// a redirect URI are single use and must match, a verifier must match its challenge, a rotated refresh token that is
/// used again revokes the whole grant (RFC 9700 §4.14.2) and answers <c>invalid_grant</c>.
/// </summary>
internal sealed class FakeOidcProvider : HttpMessageHandler
{
    public const string Issuer = "https://idp.fast.test";
    public const string ClientId = "fast-client";
    public const string ClientSecret = "fast-secret-value";

    private readonly ConcurrentDictionary<string, IssuedCode> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RefreshToken> _refreshTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _accessTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Func<HttpResponseMessage>> _tokenFailures = new();
    private readonly ConcurrentDictionary<string, int> _grantRequests = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _grantsOk = new(StringComparer.Ordinal);

    /// <summary>Issue a new refresh token on every refresh and refuse reuse of the old one.</summary>
    public bool RotateRefreshTokens { get; set; }

    /// <summary>Whether a refresh token is issued with the code (only when offline_access was asked, as OIDC providers do).</summary>
    public bool IssueRefreshTokens { get; set; } = true;

    public int AccessTokenLifetimeSeconds { get; set; } = 3600;

    /// <summary>The <c>iss</c> put on the callback (RFC 9207); null leaves it out.</summary>
    public string? CallbackIss { get; set; } = Issuer;

    /// <summary>The email userinfo names for the account that consented (else the login hint).</summary>
    public string? ConsentingAccount { get; set; }

    /// <summary>Holds every token request until released (single-flight tests).</summary>
    public TaskCompletionSource? TokenGate { get; set; }

    public int GrantRequests(string grantType) => _grantRequests.GetValueOrDefault(grantType);

    public int GrantsOk(string grantType) => _grantsOk.GetValueOrDefault(grantType);

    public int RevokedGrants { get; private set; }

    /// <summary>The next <paramref name="count"/> token requests answer 503 (as a provider in an outage).</summary>
    public void FailNextTokenRequests(int count, HttpStatusCode status = HttpStatusCode.ServiceUnavailable)
    {
        for (var i = 0; i < count; i++)
        {
            _tokenFailures.Enqueue(() => new HttpResponseMessage(status) { Content = new StringContent("{\"error\":\"temporarily_unavailable\"}", Encoding.UTF8, "application/json") });
        }
    }

    /// <summary>The next <paramref name="count"/> token requests never reach the provider (connection refused).</summary>
    public void DropNextTokenRequests(int count)
    {
        for (var i = 0; i < count; i++)
        {
            _tokenFailures.Enqueue(() => throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (fake)."));
        }
    }

    /// <summary>Revokes every refresh token (consent withdrawn at the provider): the next refresh is invalid_grant.</summary>
    public void WithdrawConsent()
    {
        foreach (var token in _refreshTokens.Values)
        {
            token.Revoked = true;
        }
    }

    /// <summary>
    /// What a browser does at the authorization endpoint after the person consents: checks the request as the provider
    /// would and returns the callback URL (code, state and, unless <see cref="CallbackIss"/> is null, iss).
    /// </summary>
    public Uri Consent(string authorizationUrl)
    {
        var url = new Uri(authorizationUrl);
        Assert.Equal(Issuer + "/authorize", url.GetLeftPart(UriPartial.Path));
        var query = QueryHelpers.ParseQuery(url.Query);
        Assert.Equal(ClientId, query["client_id"].ToString());
        Assert.Equal("code", query["response_type"].ToString());
        Assert.Equal("S256", query["code_challenge_method"].ToString());
        var code = "code-" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));
        var scopes = query["scope"].ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var account = ConsentingAccount ?? query["login_hint"].ToString();
        _codes[code] = new IssuedCode(query["redirect_uri"].ToString(), query["code_challenge"].ToString(), scopes, account);
        var callback = $"{query["redirect_uri"]}?code={Uri.EscapeDataString(code)}&state={Uri.EscapeDataString(query["state"].ToString())}";
        return new Uri(CallbackIss is null ? callback : callback + "&iss=" + Uri.EscapeDataString(CallbackIss));
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.GetLeftPart(UriPartial.Path);
        return path switch
        {
            Issuer + "/.well-known/openid-configuration" => Json(HttpStatusCode.OK, Discovery()),
            Issuer + "/jwks" => Json(HttpStatusCode.OK, new JsonObject { ["keys"] = new JsonArray() }),
            Issuer + "/token" => await TokenAsync(request, cancellationToken),
            Issuer + "/userinfo" => UserInfo(request),
            Issuer + "/revoke" => await RevokeAsync(request, cancellationToken),
            _ => new HttpResponseMessage(HttpStatusCode.NotFound),
        };
    }

    private static JsonObject Discovery() => new()
    {
        ["issuer"] = Issuer,
        ["authorization_endpoint"] = Issuer + "/authorize",
        ["token_endpoint"] = Issuer + "/token",
        ["userinfo_endpoint"] = Issuer + "/userinfo",
        ["revocation_endpoint"] = Issuer + "/revoke",
        ["jwks_uri"] = Issuer + "/jwks",
        ["response_types_supported"] = new JsonArray("code"),
        ["grant_types_supported"] = new JsonArray("authorization_code", "refresh_token"),
        ["code_challenge_methods_supported"] = new JsonArray("S256"),
        ["token_endpoint_auth_methods_supported"] = new JsonArray("client_secret_basic"),
        ["authorization_response_iss_parameter_supported"] = true,
    };

    private async Task<HttpResponseMessage> TokenAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var form = QueryHelpers.ParseQuery("?" + await request.Content!.ReadAsStringAsync(cancellationToken));
        var grantType = form["grant_type"].ToString();
        _grantRequests.AddOrUpdate(grantType, 1, (_, n) => n + 1);
        if (TokenGate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        if (_tokenFailures.TryDequeue(out var failure))
        {
            return failure();
        }

        if (!ClientAuthenticated(request))
        {
            return Error(HttpStatusCode.Unauthorized, "invalid_client", "client authentication failed");
        }

        var answer = grantType switch
        {
            "authorization_code" => RedeemCode(form),
            "refresh_token" => Refresh(form),
            _ => Error(HttpStatusCode.BadRequest, "unsupported_grant_type", grantType),
        };
        if (answer.IsSuccessStatusCode)
        {
            _grantsOk.AddOrUpdate(grantType, 1, (_, n) => n + 1);
        }

        return answer;
    }

    private HttpResponseMessage RedeemCode(Dictionary<string, Microsoft.Extensions.Primitives.StringValues> form)
    {
        if (!_codes.TryRemove(form["code"].ToString(), out var issued))
        {
            return Error(HttpStatusCode.BadRequest, "invalid_grant", "authorization code is invalid or was already used");
        }

        if (issued.RedirectUri != form["redirect_uri"].ToString())
        {
            return Error(HttpStatusCode.BadRequest, "invalid_grant", "redirect_uri mismatch");
        }

        var challenge = Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString())));
        if (challenge != issued.Challenge)
        {
            return Error(HttpStatusCode.BadRequest, "invalid_grant", "PKCE verification failed (code_verifier)");
        }

        var family = new Grant(issued.Account, issued.Scopes);
        var refresh = IssueRefreshTokens && issued.Scopes.Contains("offline_access") ? NewRefreshToken(family) : null;
        return Tokens(family, refresh);
    }

    private HttpResponseMessage Refresh(Dictionary<string, Microsoft.Extensions.Primitives.StringValues> form)
    {
        if (!_refreshTokens.TryGetValue(form["refresh_token"].ToString(), out var token) || token.Revoked || token.Grant.Revoked)
        {
            return Error(HttpStatusCode.BadRequest, "invalid_grant", "grant request is invalid");
        }

        if (token.Used)
        {
            // Reuse of a rotated refresh token: someone else holds it; the whole grant dies.
            token.Grant.Revoked = true;
            RevokedGrants++;
            return Error(HttpStatusCode.BadRequest, "invalid_grant", "refresh token reuse detected");
        }

        string? next = null;
        if (RotateRefreshTokens)
        {
            token.Used = true;
            next = NewRefreshToken(token.Grant);
        }

        return Tokens(token.Grant, next);
    }

    private HttpResponseMessage UserInfo(HttpRequestMessage request)
    {
        var bearer = request.Headers.Authorization is { Scheme: "Bearer" } auth ? auth.Parameter : null;
        if (bearer is null || !_accessTokens.TryGetValue(bearer, out var account))
        {
            return new HttpResponseMessage(HttpStatusCode.Unauthorized);
        }

        return Json(HttpStatusCode.OK, new JsonObject { ["sub"] = "sub-" + account, ["email"] = account, ["email_verified"] = true });
    }

    private async Task<HttpResponseMessage> RevokeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var form = QueryHelpers.ParseQuery("?" + await request.Content!.ReadAsStringAsync(cancellationToken));
        if (_refreshTokens.TryGetValue(form["token"].ToString(), out var token))
        {
            token.Grant.Revoked = true;
            RevokedGrants++;
        }

        return new HttpResponseMessage(HttpStatusCode.OK);
    }

    private HttpResponseMessage Tokens(Grant grant, string? refreshToken)
    {
        var access = "at-" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));
        _accessTokens[access] = grant.Account;
        var body = new JsonObject
        {
            ["access_token"] = access,
            ["token_type"] = "Bearer",
            ["expires_in"] = AccessTokenLifetimeSeconds,
            ["scope"] = string.Join(' ', grant.Scopes),
        };
        if (refreshToken is not null)
        {
            body["refresh_token"] = refreshToken;
        }

        return Json(HttpStatusCode.OK, body);
    }

    private string NewRefreshToken(Grant grant)
    {
        var value = "rt-" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));
        _refreshTokens[value] = new RefreshToken(grant);
        return value;
    }

    private static bool ClientAuthenticated(HttpRequestMessage request)
    {
        if (request.Headers.Authorization is not { Scheme: "Basic", Parameter: { } parameter })
        {
            return false;
        }

        var expected = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Uri.EscapeDataString(ClientId)}:{Uri.EscapeDataString(ClientSecret)}"));
        return parameter == expected;
    }

    private static HttpResponseMessage Error(HttpStatusCode status, string error, string description) =>
        Json(status, new JsonObject { ["error"] = error, ["error_description"] = description });

    private static HttpResponseMessage Json(HttpStatusCode status, JsonObject body) =>
        new(status) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };

    private sealed record IssuedCode(string RedirectUri, string Challenge, string[] Scopes, string Account);

    private sealed class Grant(string account, string[] scopes)
    {
        public string Account { get; } = account;

        public string[] Scopes { get; } = scopes;

        public bool Revoked { get; set; }
    }

    private sealed class RefreshToken(Grant grant)
    {
        public Grant Grant { get; } = grant;

        public bool Used { get; set; }

        public bool Revoked { get; set; }
    }
}
