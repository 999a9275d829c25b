using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace MailGrpc.Server.Webhooks;

/// <summary>
/// Signs webhook deliveries per the Standard Webhooks specification (symmetric scheme, signature identifier
/// <c>v1</c>): HMAC-SHA256 keyed with the secret's bytes over <c>{webhook-id}.{webhook-timestamp}.{payload}</c>,
/// base64-encoded. With several secrets (a rotation in progress) the header carries one signature per secret,
/// space-separated, so receivers holding either the old or the new secret verify the same delivery.
/// </summary>
/// <remarks>
/// Written against the specification with the BCL's HMAC rather than a NuGet package: the StandardWebhooks package on
/// NuGet is a one-release third-party library (and the specification's own C# library is not published there), and
/// the scheme is a single HMAC. Checked against the specification libraries' published vector in the tests.
/// </remarks>
internal static class WebhookSigner
{
    public const string SignatureVersion = "v1";

    /// <summary>Signs <paramref name="payload"/> (the exact bytes of the HTTP body) for one delivery attempt.</summary>
    /// <param name="id">The event's id; the same on every retry. Must not be empty or contain '.', ' ' or ','.</param>
    /// <param name="timestamp">When the attempt is made; whole seconds are signed.</param>
    public static WebhookSignatureHeaders Sign(string id, DateTimeOffset timestamp, ReadOnlySpan<byte> payload, IReadOnlyList<WebhookSecret> secrets)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(secrets);
        // The specification: ids must not contain '.', or "a.b" + "c" and "a" + "b.c" would sign the same content.
        if (id.Length == 0 || id.AsSpan().IndexOfAny(". ,\r\n") >= 0) throw new ArgumentException("A webhook id is non-empty and has no '.', ',', space or line break.", nameof(id));
        if (secrets.Count == 0) throw new ArgumentException("At least one secret signs a delivery.", nameof(secrets));
        var seconds = timestamp.ToUnixTimeSeconds();
        if (seconds < 0) throw new ArgumentOutOfRangeException(nameof(timestamp), "Webhook timestamps are after the Unix epoch.");
        var timestampText = seconds.ToString(CultureInfo.InvariantCulture);

        var signatures = new StringBuilder();
        foreach (var secret in secrets)
        {
            if (signatures.Length > 0) signatures.Append(' ');
            signatures.Append(SignatureVersion).Append(',').Append(Compute(secret, id, timestampText, payload));
        }
        return new WebhookSignatureHeaders(id, timestampText, signatures.ToString());
    }

    /// <summary>The base64 HMAC-SHA256 of <c>{id}.{timestamp}.{payload}</c> under <paramref name="secret"/>.</summary>
    internal static string Compute(WebhookSecret secret, string id, string timestamp, ReadOnlySpan<byte> payload)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, secret.Key);
        hmac.AppendData(Encoding.UTF8.GetBytes(id));
        hmac.AppendData("."u8);
        hmac.AppendData(Encoding.UTF8.GetBytes(timestamp));
        hmac.AppendData("."u8);
        hmac.AppendData(payload);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        hmac.GetHashAndReset(mac);
        return Convert.ToBase64String(mac);
    }
}
