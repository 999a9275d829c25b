using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailGrpc.Server.Network;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Authorization.Strict;

/// <summary>
/// The rig's strict OpenID provider (tests/rig/oidc: node-oidc-provider) and its browser (tests/rig/oidc/browser.js,
/// headless chromium): clients registered per test through RFC 7591, the provider's counters, and the server settings of
/// docs/setup/generic-oidc.md.
/// </summary>
public static class StrictOidc
{
    public static string RigDir => RigSettings.Directory;

    public static string Issuer { get; } = RigSettings.OidcIssuer;

    public static int Pop3Port => RigSettings.Pop3StrictPort;

    public static string CaFile => RigSettings.CaFile;

    public static string Redis => RigSettings.Redis;

    private static string Browser { get; } = RigEnv("OIDC_BROWSER") ?? Path.Combine(RepoPaths.Root, "tests/rig/oidc/browser.js");

    public static HttpClient Http { get; } = new(new ExtraTrust(CaFile).CreateHttpHandler()) { BaseAddress = new Uri(Issuer + "/") };

    /// <summary>A free loopback port for the server's Web endpoint (the redirect URI is registered before the server starts).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string RedirectUri(int webPort) => $"http://127.0.0.1:{webPort}/oauth/callback";

    /// <summary>
    /// Registers a client as docs/setup/generic-oidc.md says: a web application with the redirect URI, grant types
    /// authorization_code, refresh_token and device_code, and the token endpoint auth method.
    /// </summary>
    public static async Task<(string ClientId, string? Secret)> RegisterClientAsync(int webPort, string authMethod = "client_secret_basic", JsonObject? jwks = null)
    {
        var body = new JsonObject
        {
            ["client_name"] = "MailGrpc test",
            ["application_type"] = "web",
            ["redirect_uris"] = new JsonArray(RedirectUri(webPort)),
            ["grant_types"] = new JsonArray("authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"),
            ["response_types"] = new JsonArray("code"),
            ["token_endpoint_auth_method"] = authMethod,
        };
        if (jwks is not null)
        {
            body["jwks"] = jwks;
        }

        using var response = await Http.PostAsJsonAsync("reg", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"registration refused: {text}");
        var json = JsonNode.Parse(text)!;
        return (json["client_id"]!.GetValue<string>(), json["client_secret"]?.GetValue<string>());
    }

    public static async Task ConfigureAsync(string clientId, int accessTokenTtl)
    {
        using var response = await Http.PostAsJsonAsync("__rig/config", new JsonObject { ["client_id"] = clientId, ["accessTokenTtl"] = accessTokenTtl });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>The provider's counters for the client (grants per type, revocations, refused client authentications).</summary>
    public static async Task<JsonObject> StatsAsync(string clientId) =>
        await Http.GetFromJsonAsync<JsonObject>($"__rig/stats?client_id={Uri.EscapeDataString(clientId)}") ?? [];

    public static int Count(JsonObject stats, params string[] path)
    {
        JsonNode? node = stats;
        foreach (var p in path)
        {
            node = node?[p];
        }

        return node?.GetValue<int>() ?? 0;
    }

    /// <summary>Settings of docs/setup/generic-oidc.md for an OAuth client named "strict", plus Redis, a key and the rig CA.</summary>
    public static Dictionary<string, string?> Settings(string clientId, string? secret, int webPort, params TestTenant[] tenants)
    {
        var settings = MailGrpcTestHost.ApiKeySettings(tenants);
        settings["Kestrel:Endpoints:Web:Url"] = $"http://127.0.0.1:{webPort}";
        settings["MailGrpc:Redis:Configuration"] = Redis;
        settings["MailGrpc:Encryption:Keys:k1"] = OAuthRig.EncryptionKey;
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        settings["MailGrpc:Network:AllowPrivateAddresses"] = "true";
        settings["MailGrpc:Tls:ExtraTrustedCaFile"] = CaFile;
        settings["MailGrpc:OAuthClients:strict:Provider"] = "Generic";
        settings["MailGrpc:OAuthClients:strict:Authority"] = Issuer;
        settings["MailGrpc:OAuthClients:strict:ClientId"] = clientId;
        settings["MailGrpc:OAuthClients:strict:ClientSecret"] = secret;
        settings["MailGrpc:OAuthClients:strict:Scopes:0"] = "openid";
        settings["MailGrpc:OAuthClients:strict:Scopes:1"] = "email";
        settings["MailGrpc:OAuthClients:strict:Scopes:2"] = "offline_access";
        settings["MailGrpc:OAuthClients:strict:RedirectUris:0"] = RedirectUri(webPort);
        return settings;
    }

    public static string NewUser(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20] + "@rig.test";

    /// <summary>An OAuth mailbox on the strict provider's Dovecot for <paramref name="username"/>.</summary>
    public static Mailbox Mailbox(string username, string displayName = "") => new()
    {
        Username = username,
        DisplayName = displayName,
        Server = new ServerSettings { Host = "127.0.0.1", Port = Pop3Port, Security = Security.None },
        AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "strict" } },
    };

    /// <summary>What the person sees at the end of a browser run.</summary>
    public sealed record Page(string Url, int Status, string Title, string Text, bool Stopped, JsonObject Headers)
    {
        public override string ToString() => $"{Status} {Title}: {Text}";
    }

    /// <summary>
    /// Runs tests/rig/oidc/browser.js (headless chromium) with these arguments and returns the page the person ends on:
    /// one chromium for the test run (<see cref="StrictBrowser"/>), a fresh incognito context per run.
    /// </summary>
    public static async Task<Page> BrowserAsync(string mode, string url, params string[] options)
    {
        var json = await StrictBrowser.RunAsync(Browser, RigDir, [mode, url, .. options], TimeSpan.FromSeconds(90));
        return new Page(
            json["url"]!.GetValue<string>(),
            json["status"]?.GetValue<int>() ?? 0,
            json["title"]?.GetValue<string>() ?? string.Empty,
            json["text"]?.GetValue<string>() ?? string.Empty,
            json["stopped"]?.GetValue<bool>() ?? false,
            json["headers"]?.AsObject() ?? []);
    }

    private static string? RigEnv(string key) => RigSettings.Value(key);

    internal static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();
}
