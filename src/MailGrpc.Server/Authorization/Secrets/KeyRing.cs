using System.Security.Cryptography;
using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Authorization.Secrets;

/// <summary>
/// The AES-256 keys from <c>MailGrpc:Encryption</c>. The active key encrypts; every listed key decrypts, so keys rotate
/// online. With no key configured and the embedded store, one ephemeral key is made up per process (a loud warning is
/// logged by <see cref="KeyRingStartupCheck"/>); with Redis configured, options validation refuses to start instead.
/// </summary>
internal sealed class KeyRing
{
    private readonly Dictionary<string, byte[]> _keys;

    public KeyRing(IOptions<EncryptionOptions> options)
    {
        var encryption = options.Value;
        _keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (id, key) in encryption.Keys)
        {
            _keys[id] = Convert.FromBase64String(key);
        }

        if (_keys.Count == 0)
        {
            IsEphemeral = true;
            ActiveKeyId = "ephemeral-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
            _keys[ActiveKeyId] = RandomNumberGenerator.GetBytes(32);
        }
        else
        {
            ActiveKeyId = string.IsNullOrEmpty(encryption.ActiveKeyId) ? _keys.Keys.Single() : encryption.ActiveKeyId;
        }
    }

    /// <summary>The id of the key new ciphertexts are written with.</summary>
    public string ActiveKeyId { get; }

    /// <summary>True when the key was generated at start (development only; secrets die with the process).</summary>
    public bool IsEphemeral { get; }

    public byte[] ActiveKey => _keys[ActiveKeyId];

    public bool TryGetKey(string keyId, out byte[] key) => _keys.TryGetValue(keyId, out key!);
}
