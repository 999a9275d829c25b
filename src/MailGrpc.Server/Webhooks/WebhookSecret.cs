using System.Security.Cryptography;

namespace MailGrpc.Server.Webhooks;

/// <summary>
/// A symmetric Standard Webhooks signing secret: random bytes, shown to the endpoint's owner as <c>whsec_</c> + base64
/// (the specification's serialization). The specification asks for 24 to 64 random bytes; MailGrpc generates 32.
/// </summary>
internal sealed class WebhookSecret
{
    public const string Prefix = "whsec_";
    public const int MinimumBytes = 24;
    public const int MaximumBytes = 64;
    public const int GeneratedBytes = 32;

    private readonly byte[] key;

    private WebhookSecret(byte[] key) => this.key = key;

    /// <summary>The key bytes the HMAC uses.</summary>
    public ReadOnlySpan<byte> Key => key;

    /// <summary>The serialized form (<c>whsec_</c> + base64), for the endpoint's owner only: never log it.</summary>
    public string Serialized => Prefix + Convert.ToBase64String(key);

    /// <summary>A new secret from the operating system's cryptographic random number generator.</summary>
    public static WebhookSecret Generate() => new(RandomNumberGenerator.GetBytes(GeneratedBytes));

    /// <summary>
    /// Reads a <c>whsec_</c> secret. False (and no detail that could echo the secret) when the prefix is missing, the
    /// rest is not base64 or the key is not 24–64 bytes long.
    /// </summary>
    public static bool TryParse(string? serialized, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out WebhookSecret? secret)
    {
        secret = null;
        if (serialized is null || !serialized.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        var encoded = serialized.AsSpan(Prefix.Length);
        var buffer = new byte[(encoded.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64Chars(encoded, buffer, out var written) || written is < MinimumBytes or > MaximumBytes) return false;
        secret = new WebhookSecret(buffer[..written]);
        return true;
    }

    /// <summary>Never the key: secrets end up in exception messages and logs by accident.</summary>
    public override string ToString() => Prefix + "…";
}
