namespace MailGrpc.Server.Configuration;

/// <summary>Keys for encrypting stored secrets (AES-256-GCM). Keys come from configuration or a secret store, never Redis.</summary>
internal sealed class EncryptionOptions
{
    public const string SectionName = "MailGrpc:Encryption";

    /// <summary>Base64 256-bit keys by key id; old ids stay listed so their ciphertexts still decrypt.</summary>
    public Dictionary<string, string> Keys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The key id new secrets are encrypted with.</summary>
    public string? ActiveKeyId { get; set; }

    /// <summary>After start, re-encrypt every stored mailbox secret that is not under the active key (a background sweep).</summary>
    public bool ReencryptOnStart { get; set; }
}
