using System.Security.Cryptography;
using System.Text;
using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Callers;

/// <summary>Maps an API key to its tenant by comparing SHA-256 hashes in constant time. Keys themselves are never stored.</summary>
internal sealed class ApiKeyAuthenticator
{
    private readonly (byte[] Hash, string Tenant)[] _keys;

    public ApiKeyAuthenticator(IOptions<ApiKeysOptions> options)
    {
        _keys = options.Value.ApiKeys.Select(k => (Convert.FromHexString(k.KeyHash), k.Tenant)).ToArray();
    }

    /// <summary>True when no API key is configured: anonymous callers are accepted, and only on loopback.</summary>
    public bool IsAnonymousMode => _keys.Length == 0;

    public string? FindTenant(string apiKey)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(apiKey), hash);
        string? tenant = null;
        foreach (var (candidate, candidateTenant) in _keys)
        {
            // Look at every key so the time taken does not say which one matched.
            if (CryptographicOperations.FixedTimeEquals(candidate, hash))
            {
                tenant = candidateTenant;
            }
        }

        return tenant;
    }

    /// <summary>The hash to configure for a key (for docs and tooling).</summary>
    public static string HashKey(string apiKey) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey)));
}
