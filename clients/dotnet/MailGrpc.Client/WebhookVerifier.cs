using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace MailGrpc.Client;

/// <summary>A verified webhook delivery.</summary>
/// <param name="Id">The <c>webhook-id</c>: the same on every retry of one event, so it is the dedupe key.</param>
/// <param name="Timestamp">When this delivery attempt was signed.</param>
/// <param name="Type">The payload's <c>type</c> (e.g. <c>message.arrived</c>), or null when it has none.</param>
/// <param name="Payload">The parsed JSON body.</param>
public sealed record WebhookEvent(string Id, DateTimeOffset Timestamp, string? Type, JsonElement Payload);

/// <summary>
/// Verifies MailGrpc's webhook deliveries, signed per the Standard Webhooks specification: the <c>webhook-id</c>,
/// <c>webhook-timestamp</c> and <c>webhook-signature</c> headers, HMAC-SHA256 over <c>{id}.{timestamp}.{body}</c> with
/// the endpoint's <c>whsec_</c> secret.
/// </summary>
public static class WebhookVerifier
{
    /// <summary>The event id header.</summary>
    public const string IdHeader = "webhook-id";

    /// <summary>The signed attempt time header (Unix seconds).</summary>
    public const string TimestampHeader = "webhook-timestamp";

    /// <summary>The space-separated <c>v1,&lt;base64&gt;</c> signatures header.</summary>
    public const string SignatureHeader = "webhook-signature";

    /// <summary>How far the signed timestamp may be from now, either way, unless told otherwise: 5 minutes.</summary>
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Verifies a delivery and returns its event. Checks the three headers, the timestamp (within
    /// <paramref name="tolerance"/>, default 5 minutes, either way), at least one <c>v1</c> signature (constant-time
    /// compare; during a secret rotation the header carries one per secret) and that the body is JSON.
    /// </summary>
    /// <param name="payload">The raw request body, exactly as received: verify before parsing.</param>
    /// <param name="header">Reads one request header by name (e.g. <c>name =&gt; request.Headers[name]</c>); null or empty when absent.</param>
    /// <param name="secret">The endpoint's <c>whsec_…</c> secret.</param>
    /// <param name="tolerance">How far the signed timestamp may be from now; null for <see cref="DefaultTolerance"/>.</param>
    /// <param name="timeProvider">The receiver's clock; null for the system clock.</param>
    /// <exception cref="WebhookVerificationException">The delivery did not verify; <see cref="WebhookVerificationException.Code"/> says why.</exception>
    public static WebhookEvent Verify(ReadOnlySpan<byte> payload, Func<string, string?> header, string secret, TimeSpan? tolerance = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(header);
        var key = SecretKey(secret);
        var id = Required(header, IdHeader);
        var timestamp = Required(header, TimestampHeader);
        var signatures = Required(header, SignatureHeader);

        if (timestamp.Length > 15 || !timestamp.All(char.IsAsciiDigit))
        {
            throw new WebhookVerificationException(WebhookVerificationErrorCode.InvalidTimestamp, "webhook-timestamp is not a whole number of seconds since the Unix epoch.");
        }

        var seconds = long.Parse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture);
        var now = (timeProvider ?? TimeProvider.System).GetUtcNow().ToUnixTimeSeconds();
        var allowed = (long)(tolerance ?? DefaultTolerance).TotalSeconds;
        if (now - seconds > allowed)
        {
            throw new WebhookVerificationException(WebhookVerificationErrorCode.TimestampTooOld, $"webhook-timestamp is more than {allowed} s old.");
        }

        if (seconds - now > allowed)
        {
            throw new WebhookVerificationException(WebhookVerificationErrorCode.TimestampTooNew, $"webhook-timestamp is more than {allowed} s ahead of this clock.");
        }

        var expected = Encoding.ASCII.GetBytes(Convert.ToBase64String(Mac(key, id, timestamp, payload)));
        var matched = false;
        foreach (var candidate in signatures.Split(' '))
        {
            var comma = candidate.IndexOf(',', StringComparison.Ordinal);
            if (comma < 0 || !candidate.AsSpan(0, comma).SequenceEqual("v1"))
            {
                continue;
            }

            // Constant-time compare; every candidate is checked.
            matched |= CryptographicOperations.FixedTimeEquals(expected, Encoding.UTF8.GetBytes(candidate[(comma + 1)..]));
        }

        if (!matched)
        {
            throw new WebhookVerificationException(WebhookVerificationErrorCode.InvalidSignature, "No v1 signature in webhook-signature matches this secret.");
        }

        JsonElement parsed;
        try
        {
            using var document = JsonDocument.Parse(payload.ToArray());
            parsed = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new WebhookVerificationException(WebhookVerificationErrorCode.InvalidPayload, "The signed body is not JSON.");
        }

        var type = parsed.ValueKind == JsonValueKind.Object && parsed.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        return new WebhookEvent(id, DateTimeOffset.FromUnixTimeSeconds(seconds), type, parsed);
    }

    /// <summary>Verifies a delivery whose body is text (UTF-8 on the wire); see the other overload.</summary>
    /// <param name="payload">The raw request body, exactly as received.</param>
    /// <param name="headers">The request's headers (names matched case-insensitively).</param>
    /// <param name="secret">The endpoint's <c>whsec_…</c> secret.</param>
    /// <param name="tolerance">How far the signed timestamp may be from now; null for <see cref="DefaultTolerance"/>.</param>
    /// <param name="timeProvider">The receiver's clock; null for the system clock.</param>
    /// <exception cref="WebhookVerificationException">The delivery did not verify; <see cref="WebhookVerificationException.Code"/> says why.</exception>
    public static WebhookEvent Verify(string payload, IEnumerable<KeyValuePair<string, string>> headers, string secret, TimeSpan? tolerance = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(headers);
        var list = headers.ToList();
        return Verify(Encoding.UTF8.GetBytes(payload), name => list.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value, secret, tolerance, timeProvider);
    }

    private static string Required(Func<string, string?> header, string name)
    {
        var value = header(name);
        return string.IsNullOrEmpty(value)
            ? throw new WebhookVerificationException(WebhookVerificationErrorCode.MissingHeader, $"The {name} header is missing.", name)
            : value;
    }

    private static byte[] SecretKey(string secret)
    {
        const string prefix = "whsec_";
        if (secret is null || !secret.StartsWith(prefix, StringComparison.Ordinal) || secret.Length == prefix.Length ||
            secret.AsSpan(prefix.Length).ContainsAny(" \t\r\n") || !Base64.IsValid(secret.AsSpan(prefix.Length), out _))
        {
            throw new WebhookVerificationException(WebhookVerificationErrorCode.InvalidSecret, "The webhook secret is not whsec_ followed by base64.");
        }

        return Convert.FromBase64String(secret[prefix.Length..]);
    }

    private static byte[] Mac(byte[] key, string id, string timestamp, ReadOnlySpan<byte> payload)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(Encoding.UTF8.GetBytes($"{id}.{timestamp}."));
        hmac.AppendData(payload);
        return hmac.GetHashAndReset();
    }
}
