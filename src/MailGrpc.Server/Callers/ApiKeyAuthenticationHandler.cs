using System.Net;
using System.Text.Encodings.Web;
using MailGrpc.Server.Errors;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Callers;

/// <summary>The API-key scheme's settings: how a refused caller is answered (the gRPC edge supplies it).</summary>
internal sealed class ApiKeyAuthenticationOptions : AuthenticationSchemeOptions
{
    /// <summary>Writes a refusal (UNAUTHENTICATED with its reason) to the response, in the caller's protocol.</summary>
    public Func<HttpContext, MailGrpcException, Task>? WriteRefusal { get; set; }
}

/// <summary>
/// Authenticates a caller by its <c>x-api-key</c> header (gRPC metadata): the key's SHA-256 is compared in constant time
/// with the configured hashes (<see cref="ApiKeyAuthenticator"/>), and the caller becomes a principal with its tenant as
/// a claim (<see cref="CallerClaims"/>). With no keys configured every caller is the anonymous tenant, which start-up
/// allows only on loopback (<see cref="AnonymousModeGuard"/>) and each request checks again. A challenge or forbid is
/// answered as UNAUTHENTICATED with API_KEY_MISSING or API_KEY_INVALID, never a bare HTTP 401. The key is never logged
/// or echoed.
/// </summary>
internal sealed partial class ApiKeyAuthenticationHandler(
    IOptionsMonitor<ApiKeyAuthenticationOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ApiKeyAuthenticator authenticator) : AuthenticationHandler<ApiKeyAuthenticationOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string HeaderName = "x-api-key";

    /// <summary>Longer keys are refused with API_KEY_INVALID without hashing (see <see cref="Hosting.RequestHeaderLimits"/>).</summary>
    public const int MaxApiKeyLength = 1024;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync() => Task.FromResult(Authenticate());

    private AuthenticateResult Authenticate()
    {
        if (authenticator.IsAnonymousMode)
        {
            // Start-up refuses anonymous mode unless every address is loopback; a connection that arrived elsewhere
            // anyway (an address added later) is not let in.
            return IsLoopback(Context.Connection.LocalIpAddress)
                ? Success(CallerClaims.AnonymousTenant)
                : AuthenticateResult.Fail(Failures.ApiKeyMissing(HeaderName));
        }

        // gRPC metadata: the last value of a repeated key counts.
        var values = Request.Headers[HeaderName];
        var apiKey = values.Count == 0 ? null : values[values.Count - 1];
        if (string.IsNullOrEmpty(apiKey))
        {
            // No result rather than a failure: requests to open endpoints (health, the OAuth callback) send no key, and
            // a protected endpoint's challenge answers API_KEY_MISSING.
            return AuthenticateResult.NoResult();
        }

        // An oversized key is refused before any work; the key itself is never echoed.
        var tenant = apiKey.Length > MaxApiKeyLength ? null : authenticator.FindTenant(apiKey);
        return tenant is null ? AuthenticateResult.Fail(Failures.ApiKeyInvalid()) : Success(tenant);
    }

    private AuthenticateResult Success(string tenant) =>
        AuthenticateResult.Success(new AuthenticationTicket(CallerClaims.Principal(tenant, Scheme.Name), Scheme.Name));

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        await RefuseAsync(result.Failure as MailGrpcException ?? Failures.ApiKeyMissing(HeaderName));
    }

    // Only a principal without a tenant is forbidden, which this scheme never builds: it is not a valid caller either.
    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) => RefuseAsync(Failures.ApiKeyInvalid());

    private Task RefuseAsync(MailGrpcException error)
    {
        LogRefused(Logger, Request.Path.Value ?? string.Empty, error.Reason);
        if (Options.WriteRefusal is { } write)
        {
            return write(Context, error);
        }

        Response.StatusCode = StatusCodes.Status401Unauthorized;
        return Task.CompletedTask;
    }

    internal static bool IsLoopback(IPAddress? address) =>
        // No IP address: an in-process or Unix-socket connection, which is local by construction.
        address is null || IPAddress.IsLoopback(address) || (address.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(address.MapToIPv4()));

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} failed with Unauthenticated {Reason}")]
    private static partial void LogRefused(ILogger logger, string method, string reason);
}
