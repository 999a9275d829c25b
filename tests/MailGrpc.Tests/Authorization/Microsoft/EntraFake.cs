using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Identity.Client;

// Not "...Authorization.Microsoft": a namespace segment named Microsoft would shadow Microsoft.* for sibling test files.
namespace MailGrpc.Tests.Authorization.Entra;

/// <summary>
/// An in-process Microsoft Entra ID v2.0 endpoint for MSAL (Microsoft cannot be reached here). It is plugged into the
/// server as its <see cref="IMsalHttpClientFactory"/> and answers with RECORDED ENTRA RESPONSE SHAPES (see
/// <see cref="EntraShapes"/>): the tenant's openid-configuration, and the token endpoint for authorization_code (with
/// PKCE S256 checked against the challenge of the authorization URL), refresh_token (rotating: every refresh issues a new
/// refresh token; the fake records which one was presented) and client_credentials. It also plays the browser: <see
/// cref="SignIn"/> turns an authorization URL into the callback URL Entra would redirect to. Every request is recorded.
/// </summary>
public sealed class EntraFake : IMsalHttpClientFactory, IDisposable
{
    public const string Host = "https://login.microsoftonline.com";
    public const string TenantId = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    public const string ClientId = "3e4b2c1a-9d8f-4e6a-b5c7-0a1b2c3d4e5f";
    public const string ClientSecret = "fake~Entra.Secret_0123456789abcdefABCDEF";

    private readonly object _gate = new();
    private readonly Dictionary<string, PendingCode> _codes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Account> _refreshTokens = new(StringComparer.Ordinal);
    private readonly HttpClient _http;

    public EntraFake()
    {
        _http = new HttpClient(new Handler(this));
    }

    /// <summary>What <c>expires_in</c> the next tokens get (Entra: 3599 by default).</summary>
    public int AccessTokenLifetime { get; set; } = 3599;

    /// <summary>When set, the token endpoint answers every request of that grant type with this failure.</summary>
    public Failure? FailGrant { get; set; }

    public string? FailGrantType { get; set; }

    /// <summary>The <c>Retry-After</c> a 503 carries (none by default, as the front door's HTML 503 page).</summary>
    public TimeSpan? RetryAfter { get; set; }

    /// <summary>Client credentials answer with a token that has no <c>roles</c> (admin consent never granted).</summary>
    public bool AppOnlyWithoutRoles { get; set; }

    /// <summary>The body of the last error the fake answered with (its trace and correlation ids).</summary>
    public JsonObject? LastError { get; private set; }

    /// <summary>Every request MSAL sent, in order.</summary>
    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    /// <summary>Every secret the fake issued (access, refresh and id tokens), for "never stored in clear" checks.</summary>
    public ConcurrentBag<string> IssuedSecrets { get; } = [];

    /// <summary>The newest refresh token issued for each user (by preferred_username).</summary>
    public ConcurrentDictionary<string, string> LatestRefreshToken { get; } = new(StringComparer.Ordinal);

    public HttpClient GetHttpClient() => _http;

    public void Dispose() => _http.Dispose();

    public IReadOnlyList<RecordedRequest> TokenRequests(string grantType) =>
        Requests.Where(r => r.Path.EndsWith("/oauth2/v2.0/token", StringComparison.Ordinal) && r.Form.GetValueOrDefault("grant_type") == grantType).ToList();

    /// <summary>
    /// Plays the browser at Entra's /authorize: the user signs in and consents; Entra redirects with a code and the
    /// caller's state. Checks what Entra checks (client, redirect URI, response type, PKCE method).
    /// </summary>
    public Uri SignIn(string authorizationUrl, string? user = null)
    {
        var url = new Uri(authorizationUrl);
        Assert.Equal($"/{TenantId}/oauth2/v2.0/authorize", url.AbsolutePath);
        var query = QueryHelpers.ParseQuery(url.Query).ToDictionary(p => p.Key, p => p.Value.ToString(), StringComparer.Ordinal);
        Assert.Equal(ClientId, query["client_id"]);
        Assert.Equal("code", query["response_type"]);
        Assert.Equal("S256", query["code_challenge_method"]);
        var username = user ?? query.GetValueOrDefault("login_hint") ?? "user@contoso.onmicrosoft.com";
        var code = "1.AXwAv4j5cvGGr0GRqy180BHbRw" + RandomPart(96);
        lock (_gate)
        {
            _codes[code] = new PendingCode(query["redirect_uri"], query["code_challenge"], query["scope"], NewAccount(username));
        }

        return new Uri(QueryHelpers.AddQueryString(query["redirect_uri"], new Dictionary<string, string?>
        {
            ["code"] = code,
            ["state"] = query.GetValueOrDefault("state"),
            ["session_state"] = Guid.NewGuid().ToString(),
        }));
    }

    /// <summary>A refresh token Entra issued to someone else for this app (for ImportRefreshToken).</summary>
    public string IssueRefreshTokenOutside(string username)
    {
        var token = NewRefreshToken();
        lock (_gate)
        {
            _refreshTokens[token] = NewAccount(username);
        }

        return token;
    }

    private static Account NewAccount(string username) => new(Guid.NewGuid().ToString(), username);

    private async Task<HttpResponseMessage> HandleAsync(HttpRequestMessage request)
    {
        var form = request.Content is null
            ? new Dictionary<string, string>(StringComparer.Ordinal)
            : QueryHelpers.ParseQuery(await request.Content.ReadAsStringAsync()).ToDictionary(p => p.Key, p => p.Value.ToString(), StringComparer.Ordinal);
        var uri = request.RequestUri!;
        Requests.Enqueue(new RecordedRequest(request.Method.Method, uri.GetLeftPart(UriPartial.Authority), uri.AbsolutePath, uri.Query, form));

        if (uri.GetLeftPart(UriPartial.Authority) != Host)
        {
            return Json(HttpStatusCode.NotFound, new JsonObject { ["error"] = "unexpected_host" });
        }

        // Entra answers a tenant it does not know with AADSTS90002 (discovery: invalid_tenant; token endpoint: invalid_request).
        if (UnknownTenant(uri.AbsolutePath) is { } unknown)
        {
            var discovery = uri.AbsolutePath.EndsWith("/.well-known/openid-configuration", StringComparison.Ordinal);
            return Json(HttpStatusCode.BadRequest, EntraShapes.Error(discovery ? "invalid_tenant" : "invalid_request", 90002, $"AADSTS90002: Tenant '{unknown}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."));
        }

        if (request.Method == HttpMethod.Get && uri.AbsolutePath == $"/{TenantId}/v2.0/.well-known/openid-configuration")
        {
            return Json(HttpStatusCode.OK, EntraShapes.OpenIdConfiguration(TenantId));
        }

        if (request.Method == HttpMethod.Post && uri.AbsolutePath == $"/{TenantId}/oauth2/v2.0/token")
        {
            return Token(form);
        }

        return Json(HttpStatusCode.NotFound, EntraShapes.Error("invalid_request", 900561, "AADSTS900561: The endpoint only accepts POST requests."));
    }

    private HttpResponseMessage Token(Dictionary<string, string> form)
    {
        var grantType = form.GetValueOrDefault("grant_type") ?? string.Empty;
        if (FailGrant is { } failure && (FailGrantType is null || FailGrantType == grantType))
        {
            return failure switch
            {
                Failure.ConsentRequired65001 => Json(HttpStatusCode.BadRequest, EntraShapes.Error("invalid_grant", 65001, $"AADSTS65001: The user or administrator has not consented to use the application with ID '{ClientId}' named 'MailGrpc'. Send an interactive authorization request for this user and resource.", "consent_required")),
                Failure.ConditionalAccess53003 => Json(HttpStatusCode.BadRequest, EntraShapes.Error("invalid_grant", 53003, "AADSTS53003: Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.", "message_only")),
                Failure.Throttled429 => Throttled(),
                Failure.ServiceUnavailable => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
                {
                    Content = new StringContent(EntraShapes.ServiceUnavailableHtml, Encoding.UTF8, "text/html"),
                    Headers = { RetryAfter = RetryAfter is { } delay ? new System.Net.Http.Headers.RetryConditionHeaderValue(delay) : null },
                },
                _ => Json(HttpStatusCode.BadRequest, EntraShapes.Error("invalid_grant", 70043, EntraShapes.Aadsts70043, "bad_token")),
            };
        }

        if (form.GetValueOrDefault("client_id") != ClientId)
        {
            return Json(HttpStatusCode.BadRequest, EntraShapes.Error("unauthorized_client", 700016, $"AADSTS700016: Application with identifier '{form.GetValueOrDefault("client_id")}' was not found in the directory."));
        }

        if (form.GetValueOrDefault("client_secret") != ClientSecret)
        {
            return Json(HttpStatusCode.Unauthorized, EntraShapes.Error("invalid_client", 7000215, "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."));
        }

        var scope = form.GetValueOrDefault("scope") ?? string.Empty;
        switch (grantType)
        {
            case "client_credentials":
                if (!scope.EndsWith("/.default", StringComparison.Ordinal) || scope.Contains(' ', StringComparison.Ordinal))
                {
                    return Json(HttpStatusCode.BadRequest, EntraShapes.Error("invalid_scope", 1002012, $"AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier."));
                }

                return Json(HttpStatusCode.OK, AppOnlyTokens());

            case "authorization_code":
            {
                PendingCode? pending;
                lock (_gate)
                {
                    _codes.Remove(form.GetValueOrDefault("code") ?? string.Empty, out pending);
                }

                if (pending is null)
                {
                    return Json(HttpStatusCode.BadRequest, EntraShapes.Error("invalid_grant", 54005, "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."));
                }

                if (form.GetValueOrDefault("redirect_uri") != pending.RedirectUri)
                {
                    return Json(HttpStatusCode.BadRequest, EntraShapes.Error("invalid_grant", 500112, "AADSTS500112: The reply address does not match the reply address provided when requesting Authorization code."));
                }

                if (Challenge(form.GetValueOrDefault("code_verifier") ?? string.Empty) != pending.CodeChallenge)
                {
                    return Json(HttpStatusCode.BadRequest, EntraShapes.Error("invalid_grant", 501481, "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request."));
                }

                return Json(HttpStatusCode.OK, UserTokens(pending.Account, scope));
            }

            case "refresh_token":
            {
                Account? account;
                lock (_gate)
                {
                    // Entra rotates: the presented token is replaced by the one in the answer (the fake also retires it).
                    _refreshTokens.Remove(form.GetValueOrDefault("refresh_token") ?? string.Empty, out account);
                }

                if (account is null)
                {
                    return Json(HttpStatusCode.BadRequest, EntraShapes.Error("invalid_grant", 9002313, "AADSTS9002313: Invalid request. Request is malformed or invalid.", "bad_token"));
                }

                return Json(HttpStatusCode.OK, UserTokens(account, scope));
            }

            default:
                return Json(HttpStatusCode.BadRequest, EntraShapes.Error("unsupported_grant_type", 70003, $"AADSTS70003: The app requested an unsupported grant type '{grantType}'."));
        }
    }

    private JsonObject UserTokens(Account account, string requestedScope)
    {
        var accessToken = EntraShapes.UnsignedJwt(new JsonObject
        {
            ["aud"] = "https://outlook.office.com",
            ["iss"] = $"https://sts.windows.net/{TenantId}/",
            ["iat"] = Now(),
            ["exp"] = Now() + AccessTokenLifetime,
            ["appid"] = ClientId,
            ["oid"] = account.ObjectId,
            ["scp"] = "POP.AccessAsUser.All",
            ["tid"] = TenantId,
            ["upn"] = account.Username,
            ["uti"] = RandomPart(22),
            ["ver"] = "1.0",
        });
        var refreshToken = NewRefreshToken();
        var idToken = EntraShapes.UnsignedJwt(new JsonObject
        {
            ["aud"] = ClientId,
            ["iss"] = $"{Host}/{TenantId}/v2.0",
            ["iat"] = Now(),
            ["nbf"] = Now(),
            ["exp"] = Now() + 3600,
            ["name"] = account.Username.Split('@')[0],
            ["oid"] = account.ObjectId,
            ["preferred_username"] = account.Username,
            ["rh"] = "0.AXwAv4j5cvGGr0GRqy180BHbRwMAAAAAAAAAwAAAAAAAAAB8AAA.",
            ["sub"] = RandomPart(43),
            ["tid"] = TenantId,
            ["uti"] = RandomPart(22),
            ["ver"] = "2.0",
        });
        lock (_gate)
        {
            _refreshTokens[refreshToken] = account;
        }

        LatestRefreshToken[account.Username] = refreshToken;
        IssuedSecrets.Add(accessToken);
        IssuedSecrets.Add(refreshToken);
        IssuedSecrets.Add(idToken);

        // Entra echoes the granted resource scopes, not openid/profile/offline_access.
        var granted = string.Join(' ', requestedScope.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(s => s.StartsWith("https://", StringComparison.Ordinal)));
        return new JsonObject
        {
            ["token_type"] = "Bearer",
            ["scope"] = granted,
            ["expires_in"] = AccessTokenLifetime,
            ["ext_expires_in"] = AccessTokenLifetime,
            ["access_token"] = accessToken,
            ["refresh_token"] = refreshToken,
            ["id_token"] = idToken,
            ["client_info"] = Base64Url(Encoding.UTF8.GetBytes(new JsonObject { ["uid"] = account.ObjectId, ["utid"] = TenantId }.ToJsonString())),
        };
    }

    private JsonObject AppOnlyTokens()
    {
        var claims = new JsonObject
        {
            ["aud"] = "https://outlook.office365.com",
            ["iss"] = $"https://sts.windows.net/{TenantId}/",
            ["iat"] = Now(),
            ["exp"] = Now() + AccessTokenLifetime,
            ["appid"] = ClientId,
            ["roles"] = new JsonArray("POP.AccessAsApp"),
            ["tid"] = TenantId,
            ["ver"] = "1.0",
        };

        // Without admin consent for any application permission Entra still issues the token, just without "roles".
        if (AppOnlyWithoutRoles)
        {
            claims.Remove("roles");
        }

        var accessToken = EntraShapes.UnsignedJwt(claims);
        IssuedSecrets.Add(accessToken);
        return new JsonObject
        {
            ["token_type"] = "Bearer",
            ["expires_in"] = AccessTokenLifetime,
            ["ext_expires_in"] = AccessTokenLifetime,
            ["access_token"] = accessToken,
        };
    }

    /// <summary>A throttled token request: 429 with Retry-After and Entra's error layout.</summary>
    private HttpResponseMessage Throttled()
    {
        var response = Json(HttpStatusCode.TooManyRequests, EntraShapes.Error("temporarily_unavailable", 90055, "AADSTS90055: TenantThrottlingError - There are too many incoming requests. This exception is thrown for blocked tenants."));
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(RetryAfter ?? TimeSpan.FromSeconds(5));
        return response;
    }

    /// <summary>The tenant segment of a token or discovery path when it is not this tenant (null otherwise).</summary>
    private static string? UnknownTenant(string path)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var tenantPath = path.EndsWith("/oauth2/v2.0/token", StringComparison.Ordinal) || path.EndsWith("/v2.0/.well-known/openid-configuration", StringComparison.Ordinal);
        return tenantPath && segments.Length > 0 && segments[0] != TenantId ? segments[0] : null;
    }

    private static string NewRefreshToken() => "0.AXwAv4j5cvGGr0GRqy180BHbRwMAAAAAAAAAwAAAAAAAAAB8AAA.AgABAwEAAAApTwJmzXqdR4BN2miheQMYAgDs_wUA9P" + RandomPart(300);

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private static string RandomPart(int length) => Base64Url(RandomNumberGenerator.GetBytes(length))[..length];

    private static string Challenge(string verifier) => Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    internal static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private HttpResponseMessage Json(HttpStatusCode status, JsonObject body)
    {
        if (body.ContainsKey("error"))
        {
            LastError = body;
        }

        var response = new HttpResponseMessage(status) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        response.Headers.Add("x-ms-request-id", Guid.NewGuid().ToString());
        response.Headers.CacheControl = new System.Net.Http.Headers.CacheControlHeaderValue { NoStore = true, NoCache = true };
        return response;
    }

    public enum Failure
    {
        InvalidGrant70043 = 1,
        ServiceUnavailable,
        ConsentRequired65001,
        ConditionalAccess53003,
        Throttled429,
    }

    public sealed record RecordedRequest(string Method, string Authority, string Path, string Query, IReadOnlyDictionary<string, string> Form);

    private sealed record PendingCode(string RedirectUri, string CodeChallenge, string Scope, Account Account);

    private sealed record Account(string ObjectId, string Username);

    private sealed class Handler(EntraFake fake) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => fake.HandleAsync(request);
    }
}

/// <summary>
/// Response bodies as Microsoft Entra ID (login.microsoftonline.com, v2.0 endpoints) returns them: RECORDED ENTRA
/// RESPONSE SHAPES — the field names, types and error layout of real responses, with made-up identifiers and tokens.
/// </summary>
internal static class EntraShapes
{
    public const string Aadsts70043 =
        "AADSTS70043: The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on 2025-01-06T09:12:44.1200000Z and the maximum allowed lifetime for this request is 86400. Trace ID: 0b6f6f1c-5a3e-4c1e-9c55-6d7e1e3a2b00 Correlation ID: 5d1f2a9e-3b7c-4e8d-a1f0-9c2b4e6d8a10 Timestamp: 2025-01-07 10:15:02Z";

    /// <summary>What the front door answers when the token service is down (HTML, not the OAuth error JSON).</summary>
    public const string ServiceUnavailableHtml = "<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h2>Service Unavailable</h2><hr><p>HTTP Error 503. The service is unavailable.</p></body></html>";

    public static JsonObject Error(string error, int code, string description, string? suberror = null)
    {
        // As Entra writes it: the description ends with the same trace id, correlation id and timestamp as the fields.
        var timestamp = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        var traceId = Guid.NewGuid().ToString();
        var correlationId = Guid.NewGuid().ToString();
        if (!description.Contains("Trace ID:", StringComparison.Ordinal))
        {
            description += $" Trace ID: {traceId} Correlation ID: {correlationId} Timestamp: {timestamp}";
        }

        var body = new JsonObject
        {
            ["error"] = error,
            ["error_description"] = description,
            ["error_codes"] = new JsonArray(code),
            ["timestamp"] = timestamp,
            ["trace_id"] = traceId,
            ["correlation_id"] = correlationId,
            ["error_uri"] = $"https://login.microsoftonline.com/error?code={code}",
        };
        if (suberror is not null)
        {
            body["suberror"] = suberror;
        }

        return body;
    }

    public static JsonObject OpenIdConfiguration(string tenant) => new()
    {
        ["token_endpoint"] = $"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        ["token_endpoint_auth_methods_supported"] = new JsonArray("client_secret_post", "private_key_jwt", "client_secret_basic"),
        ["jwks_uri"] = $"https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys",
        ["response_modes_supported"] = new JsonArray("query", "fragment", "form_post"),
        ["subject_types_supported"] = new JsonArray("pairwise"),
        ["id_token_signing_alg_values_supported"] = new JsonArray("RS256"),
        ["response_types_supported"] = new JsonArray("code", "id_token", "code id_token", "id_token token"),
        ["scopes_supported"] = new JsonArray("openid", "profile", "email", "offline_access"),
        ["issuer"] = $"https://login.microsoftonline.com/{tenant}/v2.0",
        ["request_uri_parameter_supported"] = false,
        ["userinfo_endpoint"] = "https://graph.microsoft.com/oidc/userinfo",
        ["authorization_endpoint"] = $"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        ["device_authorization_endpoint"] = $"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
        ["http_logout_supported"] = true,
        ["frontchannel_logout_supported"] = true,
        ["end_session_endpoint"] = $"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/logout",
        ["claims_supported"] = new JsonArray("sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"),
        ["kerberos_endpoint"] = $"https://login.microsoftonline.com/{tenant}/kerberos",
        ["tenant_region_scope"] = "EU",
        ["cloud_instance_name"] = "microsoftonline.com",
        ["cloud_graph_host_name"] = "graph.windows.net",
        ["msgraph_host"] = "graph.microsoft.com",
        ["rbac_url"] = "https://pas.windows.net",
    };

    /// <summary>A well-formed JWT (header.payload.signature) whose signature is random: MSAL parses id tokens, it does not verify them.</summary>
    public static string UnsignedJwt(JsonObject payload)
    {
        var header = new JsonObject { ["typ"] = "JWT", ["alg"] = "RS256", ["kid"] = "L1KfKFI_jnXbwWc22xZxw1sUHH0" };
        return EntraFake.Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString())) + "."
            + EntraFake.Base64Url(Encoding.UTF8.GetBytes(payload.ToJsonString())) + "."
            + EntraFake.Base64Url(RandomNumberGenerator.GetBytes(256));
    }
}
