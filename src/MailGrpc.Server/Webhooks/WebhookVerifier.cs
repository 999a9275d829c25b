using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace MailGrpc.Server.Webhooks;

/// <summary>Why a delivery did not verify; the same names as the SDKs' error codes.</summary>
internal enum WebhookVerificationFailure
{
    None = 0,
    MissingHeader = 1,
    InvalidTimestamp = 2,
    TimestampTooOld = 3,
    TimestampTooNew = 4,
    InvalidSignature = 5,
}

/// <summary>The outcome of one verification: <see cref="WebhookVerificationFailure.None"/> means it verified.</summary>
internal readonly record struct WebhookVerificationResult(WebhookVerificationFailure Failure, string? MissingHeader = null)
{
    public bool IsValid => Failure == WebhookVerificationFailure.None;
}

/// <summary>
/// Verifies a Standard Webhooks delivery the way the receiver-side SDK helpers do (the server uses it to check its own
/// signatures in tests and, later, for endpoint test deliveries): all three headers present, the timestamp a whole
/// number of seconds within <c>tolerance</c> of now (default 5 minutes, either way), and at least one <c>v1</c>
/// signature equal to the expected one, compared in constant time. Other signature versions (e.g. <c>v1a</c>) are
/// skipped, as the specification allows receivers to do.
/// </summary>
internal sealed class WebhookVerifier(TimeProvider timeProvider)
{
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromMinutes(5);

    public WebhookVerificationResult Verify(ReadOnlySpan<byte> payload, string? id, string? timestamp, string? signature, WebhookSecret secret, TimeSpan? tolerance = null)
    {
        ArgumentNullException.ThrowIfNull(secret);
        if (string.IsNullOrEmpty(id)) return new(WebhookVerificationFailure.MissingHeader, WebhookHeaderNames.Id);
        if (string.IsNullOrEmpty(timestamp)) return new(WebhookVerificationFailure.MissingHeader, WebhookHeaderNames.Timestamp);
        if (string.IsNullOrEmpty(signature)) return new(WebhookVerificationFailure.MissingHeader, WebhookHeaderNames.Signature);

        // Digits only: no sign, no fraction, no exponent (the specification: an integer Unix timestamp).
        if (timestamp.Length > 15 || !timestamp.All(char.IsAsciiDigit)) return new(WebhookVerificationFailure.InvalidTimestamp);
        var seconds = long.Parse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture);
        var now = timeProvider.GetUtcNow().ToUnixTimeSeconds();
        var allowed = (long)(tolerance ?? DefaultTolerance).TotalSeconds;
        if (now - seconds > allowed) return new(WebhookVerificationFailure.TimestampTooOld);
        if (seconds - now > allowed) return new(WebhookVerificationFailure.TimestampTooNew);

        var expected = Encoding.ASCII.GetBytes(WebhookSigner.Compute(secret, id, timestamp, payload));
        var matched = false;
        foreach (var candidate in signature.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var comma = candidate.IndexOf(',', StringComparison.Ordinal);
            if (comma < 0 || !candidate.AsSpan(0, comma).SequenceEqual(WebhookSigner.SignatureVersion)) continue;
            // Every candidate is compared (no early exit), each in constant time for its length.
            matched |= CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(candidate[(comma + 1)..]));
        }
        return matched ? new(WebhookVerificationFailure.None) : new(WebhookVerificationFailure.InvalidSignature);
    }
}
