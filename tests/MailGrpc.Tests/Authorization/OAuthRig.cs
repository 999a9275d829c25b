using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailGrpc.Server.Network;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Authorization;

/// <summary>
/// The rig's OAuth server (tests/rig/oauth/server.js) seen from the token tests: its issuer and CA, its admin API
/// (per-test clients with their own knobs and counters), and the settings that point MailGrpc at it.
/// MAILGRPC_TEST_OAUTH_ISSUER and MAILGRPC_TEST_CA_FILE override the rig's defaults.
/// </summary>
public static class OAuthRig
{
    public static string Issuer { get; } = Environment.GetEnvironmentVariable("MAILGRPC_TEST_OAUTH_ISSUER") ?? RigSettings.OAuthIssuer;

    public static string CaFile { get; } = Environment.GetEnvironmentVariable("MAILGRPC_TEST_CA_FILE") ?? RigSettings.CaFile;

    public const string RedirectUri = "http://127.0.0.1:5081/oauth/callback";

    public static readonly string EncryptionKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>An HTTP client that trusts the rig CA (through the server's own helper) and never follows redirects.</summary>
    public static HttpClient Http { get; } = new(new ExtraTrust(CaFile).CreateHttpHandler()) { BaseAddress = new Uri(Issuer + "/") };

    /// <summary>A fresh client at the rig with its own counters and config, so tests never disturb each other.</summary>
    public static async Task<(string ClientId, string Secret)> RegisterClientAsync(object? config = null)
    {
        var response = await Http.PostAsJsonAsync("__rig/clients", new Dictionary<string, object?> { ["config"] = config ?? new Dictionary<string, object>() });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonObject>();
        return (body!["client_id"]!.GetValue<string>(), body["client_secret"]!.GetValue<string>());
    }

    public static async Task ConfigureAsync(string clientId, Dictionary<string, object?> patch)
    {
        patch["client_id"] = clientId;
        var response = await Http.PostAsJsonAsync("__rig/config", patch);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>The rig's counter of <paramref name="grantType"/> token requests by the client (requests, ok, errors).</summary>
    public static async Task<(int Requests, int Ok)> GrantCountAsync(string clientId, string grantType)
    {
        var stats = await Http.GetFromJsonAsync<JsonObject>($"__rig/stats?client_id={Uri.EscapeDataString(clientId)}");
        var grant = stats?["grants"]?[grantType];
        return (grant?["requests"]?.GetValue<int>() ?? 0, grant?["ok"]?.GetValue<int>() ?? 0);
    }

    /// <summary>Server settings with Redis, a key, the rig CA and one OAuth client named "rig".</summary>
    public static Dictionary<string, string?> Settings(string clientId, string secret, params TestTenant[] tenants)
    {
        var settings = MailGrpcTestHost.ApiKeySettings(tenants);
        settings["MailGrpc:Redis:Configuration"] = TestRedis.Configuration;
        settings["MailGrpc:Encryption:Keys:k1"] = EncryptionKey;
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        settings["MailGrpc:Network:AllowPrivateAddresses"] = "true";
        settings["MailGrpc:Tls:ExtraTrustedCaFile"] = CaFile;
        settings["MailGrpc:OAuthClients:rig:Provider"] = "Generic";
        settings["MailGrpc:OAuthClients:rig:ClientId"] = clientId;
        settings["MailGrpc:OAuthClients:rig:ClientSecret"] = secret;
        settings["MailGrpc:OAuthClients:rig:Authority"] = Issuer;
        settings["MailGrpc:OAuthClients:rig:RedirectUris:0"] = RedirectUri;
        settings["MailGrpc:OAuthClients:rig:RedirectUris:1"] = "http://127.0.0.1:5082/other";
        settings["MailGrpc:OAuthClients:rig:Scopes:0"] = "openid";
        settings["MailGrpc:OAuthClients:rig:Scopes:1"] = "email";
        settings["MailGrpc:OAuthClients:rig:Scopes:2"] = "offline_access";
        return settings;
    }

    /// <summary>An OAuth mailbox on the rig's Dovecot (plain POP3) for <paramref name="username"/>.</summary>
    public static Mailbox OAuthMailbox(string username) => new()
    {
        Username = username,
        Server = new ServerSettings { Host = "127.0.0.1", Port = Pop3Port, Security = Security.None },
        AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "rig" } },
    };

    public static int Pop3Port => RigSettings.Pop3Port;

    /// <summary>Follows an authorization URL the way a browser would: the rig redirects at once with a code.</summary>
    public static async Task<Uri> FollowAsync(string authorizationUrl)
    {
        using var response = await Http.GetAsync(new Uri(authorizationUrl));
        Assert.True((int)response.StatusCode is >= 300 and < 400, $"expected a redirect from /authorize, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return response.Headers.Location!;
    }

    internal static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();
}
