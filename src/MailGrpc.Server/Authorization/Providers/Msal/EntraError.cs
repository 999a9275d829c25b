using System.Buffers.Text;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using MailGrpc.Server.Errors;
using Microsoft.Identity.Client;

namespace MailGrpc.Server.Authorization.Providers.Msal;

/// <summary>
/// Entra ID's own error, read from the token endpoint's answer (not from MSAL's message, whose preamble buries it): the
/// AADSTS code and <c>error_codes</c>, the <c>suberror</c>, the trace and correlation ids Microsoft support asks for, and
/// a 429's Retry-After. Classified into a precise reason that names what to fix (docs/troubleshooting.md#provider-errors).
/// Carried on <see cref="OAuthProviderException"/>'s <c>Data</c>, so the exception type stays the provider-neutral one.
/// </summary>
internal sealed partial record EntraError(
    int HttpStatus,
    string Error,
    int? Code,
    string ErrorCodes,
    string? SubError,
    string Description,
    string? TraceId,
    string? CorrelationId,
    string? Timestamp,
    TimeSpan? RetryAfter)
{
    public const string DataKey = "mailgrpc.entra";

    /// <summary>Set when MailGrpc found the problem itself (an app-only token without roles).</summary>
    public string? ForcedReason { get; init; }

    /// <summary>AADSTS codes that name a configuration key, and the key.</summary>
    public (OAuthFailureKind Kind, string Reason, string Fix)? Classification => ForcedReason == ErrorReasons.OAuthAdminConsentRequired
        ? (OAuthFailureKind.ClientRejected, ErrorReasons.OAuthAdminConsentRequired,
            "admin consent is missing: an administrator adds the application permission POP.AccessAsApp (Office 365 Exchange Online) and grants admin consent on the app registration's API permissions page, then AuthorizeWithClientCredentials again")
        : Code switch
    {
        7000215 or 7000222 => (OAuthFailureKind.ClientRejected, ErrorReasons.OAuthClientSecretInvalid,
            "the client secret is wrong or expired: create a new secret in the app registration (Certificates & secrets) and set its VALUE (not its ID) as MailGrpc:OAuthClients:<name>:ClientSecret"),
        700016 => (OAuthFailureKind.ClientRejected, ErrorReasons.OAuthClientIdInvalid,
            "the application is not in this tenant: check MailGrpc:OAuthClients:<name>:ClientId (the application (client) ID) and TenantId, or have an administrator consent to the app in this tenant"),
        90002 or 90023 => (OAuthFailureKind.ClientRejected, ErrorReasons.OAuthTenantNotFound,
            "the tenant does not exist: set MailGrpc:OAuthClients:<name>:TenantId to the directory (tenant) ID or a verified domain (or Authority for a sovereign cloud)"),
        65001 or 650051 or 90094 or 90008 => (OAuthFailureKind.ClientRejected, ErrorReasons.OAuthAdminConsentRequired,
            "consent is missing: an administrator grants admin consent for the app's POP permission (POP.AccessAsApp for app-only, POP.AccessAsUser.All for delegated) on the app registration's API permissions page"),
        53003 or 53000 or 53001 or 50076 or 50079 or 50158 => (OAuthFailureKind.InvalidGrant, ErrorReasons.OAuthConditionalAccess,
            "a Conditional Access policy blocks the sign-in: an administrator adjusts it for this app (look the sign-in up by its correlation id in Entra's sign-in logs), then the user authorizes again"),
        _ when HttpStatus == (int)HttpStatusCode.TooManyRequests => (OAuthFailureKind.Transient, ErrorReasons.ProviderUnavailable,
            "Entra throttled the requests; MailGrpc retries after the delay Entra asked for"),
        _ => null,
    };

    /// <summary>Reads the error from an MSAL service exception; null for MSAL's own (client-side) errors.</summary>
    public static EntraError? From(MsalException exception)
    {
        if (exception is not MsalServiceException service)
        {
            return null;
        }

        string? error = null, description = null, subError = null, traceId = null, correlationId = null, timestamp = null;
        var codes = new List<int>();
        if (!string.IsNullOrEmpty(service.ResponseBody) && service.ResponseBody.TrimStart().StartsWith('{'))
        {
            try
            {
                using var json = JsonDocument.Parse(service.ResponseBody);
                var root = json.RootElement;
                error = String(root, "error");
                description = String(root, "error_description");
                subError = String(root, "suberror");
                traceId = String(root, "trace_id");
                correlationId = String(root, "correlation_id");
                timestamp = String(root, "timestamp");
                if (root.TryGetProperty("error_codes", out var array) && array.ValueKind == JsonValueKind.Array)
                {
                    codes.AddRange(array.EnumerateArray().Where(c => c.ValueKind == JsonValueKind.Number && c.TryGetInt32(out _)).Select(c => c.GetInt32()));
                }
            }
            catch (JsonException)
            {
                // Not Entra's JSON (a front door's HTML page): the status and headers still count.
            }
        }

        description ??= FirstAadsts(service.Message);
        int? code = codes.Count > 0 ? codes[0] : description is not null && Aadsts().Match(description) is { Success: true } m ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
        correlationId ??= string.IsNullOrEmpty(service.CorrelationId) ? null : service.CorrelationId;
        return new EntraError(
            service.StatusCode,
            error ?? service.ErrorCode,
            code,
            string.Join(',', codes),
            subError,
            Clean(description ?? service.ErrorCode),
            traceId,
            correlationId,
            timestamp,
            RetryAfterOf(service));
    }

    /// <summary>The caller-visible metadata: every id support needs, whole.</summary>
    public IEnumerable<KeyValuePair<string, string>> Metadata()
    {
        if (Code is { } code)
        {
            yield return new("provider_code", $"AADSTS{code}");
        }

        if (ErrorCodes.Length > 0)
        {
            yield return new("error_codes", ErrorCodes);
        }

        if (!string.IsNullOrEmpty(SubError))
        {
            yield return new("suberror", SubError);
        }

        if (!string.IsNullOrEmpty(TraceId))
        {
            yield return new("trace_id", TraceId);
        }

        if (!string.IsNullOrEmpty(CorrelationId))
        {
            yield return new("correlation_id", CorrelationId);
        }

        if (!string.IsNullOrEmpty(Timestamp))
        {
            yield return new("timestamp", Timestamp);
        }

        if (RetryAfter is { } delay)
        {
            yield return new("retry_after_seconds", ((int)Math.Ceiling(delay.TotalSeconds)).ToString(CultureInfo.InvariantCulture));
        }
    }

    private static TimeSpan? RetryAfterOf(MsalServiceException service)
    {
        var header = service.Headers?.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        return header?.Date is { } date && date > DateTimeOffset.UtcNow ? date - DateTimeOffset.UtcNow : null;
    }

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>The "AADSTSnnnn: …" sentence inside MSAL's message (after its preamble), if any.</summary>
    private static string? FirstAadsts(string message)
    {
        var at = message.IndexOf("AADSTS", StringComparison.Ordinal);
        return at < 0 ? null : message[at..];
    }

    /// <summary>One line, without the trace/correlation/timestamp tail (they go to metadata, whole), bounded after the code.</summary>
    private static string Clean(string text)
    {
        var line = text.ReplaceLineEndings(" ");
        var tail = line.IndexOf(" Trace ID:", StringComparison.Ordinal);
        if (tail > 0)
        {
            line = line[..tail];
        }

        line = line.Trim();
        return line.Length <= 600 ? line : line[..600] + "…";
    }

    [GeneratedRegex(@"AADSTS(\d+)")]
    private static partial Regex Aadsts();
}

/// <summary>Reads the <c>roles</c> claim of an app-only JWT access token (unverified: only to refuse a useless token).</summary>
internal static class AppOnlyRoles
{
    public static bool IsJwtWithoutRoles(string accessToken)
    {
        var parts = accessToken.Split('.');
        if (parts.Length != 3)
        {
            return false; // Opaque: nothing to read.
        }

        try
        {
            using var json = JsonDocument.Parse(Base64Url.DecodeFromChars(parts[1]));
            return !(json.RootElement.TryGetProperty("roles", out var roles) && roles.ValueKind == JsonValueKind.Array && roles.GetArrayLength() > 0);
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return false;
        }
    }
}
