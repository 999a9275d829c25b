using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Configuration;

// One validator per section, each run at start (ValidateOnStart). Every failure names its full key, so a bad setting
// stops the server with one line that says what to fix (Hosting/StartupFailure prints them).

/// <summary>Checks <c>MailGrpc:ApiKeys</c>.</summary>
internal sealed partial class ApiKeysOptionsValidator : IValidateOptions<ApiKeysOptions>
{
    public ValidateOptionsResult Validate(string? name, ApiKeysOptions options)
    {
        var failures = new List<string>();
        for (var i = 0; i < options.ApiKeys.Count; i++)
        {
            var key = options.ApiKeys[i];
            if (!TenantPattern().IsMatch(key.Tenant))
            {
                failures.Add($"MailGrpc:ApiKeys:{i}:Tenant must be 1-64 characters of A-Z a-z 0-9 . _ -.");
            }

            if (!Sha256HexPattern().IsMatch(key.KeyHash))
            {
                failures.Add($"MailGrpc:ApiKeys:{i}:KeyHash must be the 64-character hex SHA-256 of the API key.");
            }
        }

        return OptionsValidation.Result(failures);
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    internal static partial Regex TenantPattern();

    [GeneratedRegex("^[0-9A-Fa-f]{64}$")]
    private static partial Regex Sha256HexPattern();
}

/// <summary>Checks <c>MailGrpc:OAuthClients</c>.</summary>
internal sealed partial class OAuthClientsOptionsValidator : IValidateOptions<OAuthClientsOptions>
{
    public ValidateOptionsResult Validate(string? name, OAuthClientsOptions options)
    {
        var failures = new List<string>();
        foreach (var (clientName, client) in options.OAuthClients)
        {
            var prefix = $"MailGrpc:OAuthClients:{clientName}";
            if (!ClientNamePattern().IsMatch(clientName))
            {
                failures.Add($"{prefix}: client names are 1-64 characters of A-Z a-z 0-9 . _ -.");
            }

            if (client.Provider == OAuthProviderKind.None)
            {
                failures.Add($"{prefix}:Provider must be Microsoft, Google or Generic.");
            }

            if (string.IsNullOrWhiteSpace(client.ClientId))
            {
                failures.Add($"{prefix}:ClientId is required.");
            }

            if (client.Provider == OAuthProviderKind.Generic && !IsHttpsUrl(client.Authority))
            {
                failures.Add($"{prefix}:Authority must be the provider's https issuer URL.");
            }

            foreach (var uri in client.RedirectUris)
            {
                if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || (parsed.Scheme != Uri.UriSchemeHttps && parsed.Scheme != Uri.UriSchemeHttp) || !string.IsNullOrEmpty(parsed.Fragment))
                {
                    failures.Add($"{prefix}:RedirectUris has '{uri}', which is not an absolute http(s) URL without a fragment.");
                }
            }
        }

        return OptionsValidation.Result(failures);
    }

    private static bool IsHttpsUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps;

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex ClientNamePattern();
}

/// <summary>Checks <c>MailGrpc:Encryption</c>'s keys (whether Redis needs one is <c>Authorization/Secrets/EncryptionKeysValidator</c>).</summary>
internal sealed class EncryptionOptionsValidator : IValidateOptions<EncryptionOptions>
{
    public ValidateOptionsResult Validate(string? name, EncryptionOptions options)
    {
        var failures = new List<string>();
        foreach (var (keyId, key) in options.Keys)
        {
            if (!IsAes256Key(key))
            {
                failures.Add($"MailGrpc:Encryption:Keys:{keyId} is not a base64 256-bit key (32 bytes). Fix: make one with `openssl rand -base64 32`.");
            }
        }

        if (!string.IsNullOrEmpty(options.ActiveKeyId) && !options.Keys.ContainsKey(options.ActiveKeyId))
        {
            failures.Add($"MailGrpc:Encryption:ActiveKeyId is '{options.ActiveKeyId}', which MailGrpc:Encryption:Keys does not have. Fix: set it to one of: {string.Join(", ", options.Keys.Keys)}.");
        }

        return OptionsValidation.Result(failures);
    }

    private static bool IsAes256Key(string value)
    {
        Span<byte> buffer = stackalloc byte[64];
        return Convert.TryFromBase64String(value, buffer, out var written) && written == 32;
    }
}

/// <summary>Checks <c>MailGrpc:Tls</c>.</summary>
internal sealed class TlsOptionsValidator : IValidateOptions<TlsOptions>
{
    public ValidateOptionsResult Validate(string? name, TlsOptions options) =>
        !string.IsNullOrEmpty(options.ExtraTrustedCaFile) && !File.Exists(options.ExtraTrustedCaFile)
            ? ValidateOptionsResult.Fail($"MailGrpc:Tls:ExtraTrustedCaFile '{options.ExtraTrustedCaFile}' does not exist. Fix: give the path of a PEM file with the CA certificate (on the rig: $CA_FILE).")
            : ValidateOptionsResult.Success;
}

/// <summary>Checks <c>MailGrpc:Tokens</c>.</summary>
internal sealed class TokenOptionsValidator : IValidateOptions<TokenOptions>
{
    public ValidateOptionsResult Validate(string? name, TokenOptions options) =>
        options.RefreshMargin < TimeSpan.Zero || options.PendingAuthorizationLifetime <= TimeSpan.Zero
            ? ValidateOptionsResult.Fail("MailGrpc:Tokens: RefreshMargin must be zero or more and PendingAuthorizationLifetime positive.")
            : ValidateOptionsResult.Success;
}

/// <summary>Checks <c>MailGrpc:Network</c> from its data annotations (source-generated, no reflection).</summary>
[OptionsValidator]
internal sealed partial class NetworkOptionsValidator : IValidateOptions<NetworkOptions>;

/// <summary>Checks <c>MailGrpc:Redis</c>.</summary>
internal sealed class RedisOptionsValidator : IValidateOptions<RedisOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisOptions options) =>
        !string.IsNullOrWhiteSpace(options.Configuration) && !IsRedisConfiguration(options.Configuration, out var problem)
            // The value is not echoed: it can hold a password.
            ? ValidateOptionsResult.Fail($"MailGrpc:Redis:Configuration is not a StackExchange.Redis configuration string ({problem}). Fix: use host:port[,option=value…], e.g. redis:6379,ssl=true,password=…")
            : ValidateOptionsResult.Success;

    private static bool IsRedisConfiguration(string value, out string problem)
    {
        try
        {
            StackExchange.Redis.ConfigurationOptions.Parse(value);
            problem = string.Empty;
            return true;
        }
        catch (ArgumentException e)
        {
            problem = e.Message.Split('\n')[0].Trim();
            return false;
        }
    }
}

/// <summary>Checks <c>MailGrpc:Pop3</c>.</summary>
internal sealed class Pop3OptionsValidator : IValidateOptions<Pop3Options>
{
    public ValidateOptionsResult Validate(string? name, Pop3Options options) => OptionsValidation.Result([.. options.Validate()]);
}

/// <summary>Checks <c>MailGrpc:Diagnostics</c>.</summary>
internal sealed class DiagnosticsOptionsValidator : IValidateOptions<DiagnosticsOptions>
{
    public ValidateOptionsResult Validate(string? name, DiagnosticsOptions options) =>
        options.Timeout <= TimeSpan.Zero || options.Timeout > TimeSpan.FromMinutes(5)
        || options.StepTimeout <= TimeSpan.Zero || options.StepTimeout > options.Timeout
            ? ValidateOptionsResult.Fail("MailGrpc:Diagnostics: Timeout must be positive and at most 5 minutes, StepTimeout positive and at most Timeout. Fix: e.g. Timeout=00:00:20, StepTimeout=00:00:15.")
            : ValidateOptionsResult.Success;
}

internal static class OptionsValidation
{
    public static ValidateOptionsResult Result(List<string> failures) =>
        failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
}
