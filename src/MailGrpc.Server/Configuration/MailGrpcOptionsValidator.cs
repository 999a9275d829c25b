using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Configuration;

/// <summary>Checks the whole <c>MailGrpc</c> section at start, so a bad setting stops the server with a clear message.</summary>
internal sealed partial class MailGrpcOptionsValidator : IValidateOptions<MailGrpcOptions>
{
    public ValidateOptionsResult Validate(string? name, MailGrpcOptions options)
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

        foreach (var (keyId, key) in options.Encryption.Keys)
        {
            if (!IsAes256Key(key))
            {
                failures.Add($"MailGrpc:Encryption:Keys:{keyId} is not a base64 256-bit key (32 bytes). Fix: make one with `openssl rand -base64 32`.");
            }
        }

        if (!string.IsNullOrEmpty(options.Encryption.ActiveKeyId) && !options.Encryption.Keys.ContainsKey(options.Encryption.ActiveKeyId))
        {
            failures.Add($"MailGrpc:Encryption:ActiveKeyId is '{options.Encryption.ActiveKeyId}', which MailGrpc:Encryption:Keys does not have. Fix: set it to one of: {string.Join(", ", options.Encryption.Keys.Keys)}.");
        }

        if (!string.IsNullOrEmpty(options.Tls.ExtraTrustedCaFile) && !File.Exists(options.Tls.ExtraTrustedCaFile))
        {
            failures.Add($"MailGrpc:Tls:ExtraTrustedCaFile '{options.Tls.ExtraTrustedCaFile}' does not exist. Fix: give the path of a PEM file with the CA certificate (on the rig: $CA_FILE).");
        }

        if (options.Tokens.RefreshMargin < TimeSpan.Zero || options.Tokens.PendingAuthorizationLifetime <= TimeSpan.Zero)
        {
            failures.Add("MailGrpc:Tokens: RefreshMargin must be zero or more and PendingAuthorizationLifetime positive.");
        }

        if (options.Network.ResolveTimeout <= TimeSpan.Zero)
        {
            failures.Add("MailGrpc:Network:ResolveTimeout must be positive.");
        }

        if (!string.IsNullOrWhiteSpace(options.Redis.Configuration) && !IsRedisConfiguration(options.Redis.Configuration, out var redisProblem))
        {
            // The value is not echoed: it can hold a password.
            failures.Add($"MailGrpc:Redis:Configuration is not a StackExchange.Redis configuration string ({redisProblem}). Fix: use host:port[,option=value…], e.g. redis:6379,ssl=true,password=…");
        }

        failures.AddRange(options.Pop3.Validate());

        if (options.Diagnostics.Timeout <= TimeSpan.Zero || options.Diagnostics.Timeout > TimeSpan.FromMinutes(5)
            || options.Diagnostics.StepTimeout <= TimeSpan.Zero || options.Diagnostics.StepTimeout > options.Diagnostics.Timeout)
        {
            failures.Add("MailGrpc:Diagnostics: Timeout must be positive and at most 5 minutes, StepTimeout positive and at most Timeout. Fix: e.g. Timeout=00:00:20, StepTimeout=00:00:15.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

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

    private static bool IsHttpsUrl(string? value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps;

    private static bool IsAes256Key(string value)
    {
        Span<byte> buffer = stackalloc byte[64];
        return Convert.TryFromBase64String(value, buffer, out var written) && written == 32;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    internal static partial Regex TenantPattern();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex ClientNamePattern();

    [GeneratedRegex("^[0-9A-Fa-f]{64}$")]
    private static partial Regex Sha256HexPattern();
}
