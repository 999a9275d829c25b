using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MailGrpc.Tests.Authorization.Entra;

/// <summary>
/// MSAL inside a real server process: under test.sh that is the native AOT executable that ships, where MSAL's JSON and
/// token-cache serialization must work without reflection. The Entra fake is served over HTTPS on loopback (the rig's
/// 127.0.0.1 certificate; the server trusts the rig CA) and the server's Microsoft client points its authority there.
/// </summary>
public sealed class MicrosoftProcessTests : IAsyncLifetime, IDisposable
{
    private readonly TestTenant _tenant = TestTenant.Create("msal-proc");
    private readonly EntraFake _entra = new();
    private WebApplication _entraOverHttps = null!;
    private string _authority = null!;

    public async Task InitializeAsync()
    {
        var tls = Path.GetDirectoryName(OAuthRig.CaFile)!;
        var certificate = X509Certificate2.CreateFromPemFile(Path.Combine(tls, "server.crt"), Path.Combine(tls, "server.key"));
        // Empty: no appsettings.json (the server's, copied beside the tests, would bind its Kestrel endpoints here too).
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        _entraOverHttps = builder.Build();
        _entraOverHttps.Run(ForwardToEntraAsync);
        await _entraOverHttps.StartAsync();
        var address = _entraOverHttps.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        _authority = $"https://127.0.0.1:{new Uri(address).Port}/{EntraFake.TenantId}";
    }

    public async Task DisposeAsync() => await _entraOverHttps.DisposeAsync();

    public void Dispose() => _entra.Dispose();

    /// <summary>Replays a request MSAL sent over the network into the fake, as if it had reached login.microsoftonline.com.</summary>
    private async Task ForwardToEntraAsync(HttpContext context)
    {
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), EntraFake.Host + context.Request.Path + context.Request.QueryString);
        if (context.Request.ContentType is { } contentType)
        {
            request.Content = new StreamContent(context.Request.Body);
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        using var response = await _entra.GetHttpClient().SendAsync(request, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
        await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    private Dictionary<string, string?> Settings()
    {
        var settings = MicrosoftProviderTests.Settings(_tenant);
        settings["MailGrpc:OAuthClients:m365:Authority"] = _authority;
        settings["MailGrpc:Tls:ExtraTrustedCaFile"] = OAuthRig.CaFile;
        return settings;
    }

    private static string Fingerprint(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)))[..16];

    private static async Task<JsonObject> CredentialAsync(ServerProcess server, string tenant, string mailboxId)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.WebPort}") };
        return await TokenBrokerTests.ProbeAsync(http, tenant, mailboxId);
    }

    [Fact]
    public async Task Auth_code_import_and_a_silent_refresh_run_through_msal_in_the_server_process()
    {
        _entra.AccessTokenLifetime = 60; // within MSAL's 5-minute margin: the first use after sign-in refreshes
        await using var server = await ServerProcess.StartAsync(Settings());
        var mailboxes = server.Mailboxes(_tenant.ApiKey);
        var auth = server.Authorization(_tenant.ApiKey);
        var mailbox = new Mailbox
        {
            Username = "carol@contoso.onmicrosoft.com",
            Server = new ServerSettings { Host = "127.0.0.1", Port = 11995, Security = Security.ImplicitTls },
            AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "m365" } },
        };

        // Authorization code with PKCE: MSAL builds the URL, redeems the code over HTTPS and writes its (encrypted) cache.
        var id = (await mailboxes.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = mailbox })).Mailbox.MailboxId;
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        Assert.StartsWith(_authority + "/oauth2/v2.0/authorize?", begun.AuthorizationUrl, StringComparison.Ordinal);
        var done = await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = _entra.SignIn(begun.AuthorizationUrl).ToString() });
        Assert.Equal(MailboxState.Active, done.Status.State);
        Assert.Single(_entra.TokenRequests("authorization_code"));
        var signedInRefreshToken = _entra.LatestRefreshToken["carol@contoso.onmicrosoft.com"];
        _entra.AccessTokenLifetime = 3599;

        // The next use reads MSAL's cache back from Redis and refreshes silently with the refresh token it holds.
        var credential = await CredentialAsync(server, _tenant.Name, id);
        var refresh = Assert.Single(_entra.TokenRequests("refresh_token"));
        Assert.Equal(signedInRefreshToken, refresh.Form["refresh_token"]);
        Assert.Equal("AccessToken", credential["kind"]!.GetValue<string>());
        Assert.Contains(credential["fingerprint"]!.GetValue<string>(), _entra.IssuedSecrets.Select(Fingerprint));
        Assert.True(DateTimeOffset.Parse(credential["expiresAt"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddMinutes(50));

        // A fresh token comes from the cache: no further request to Entra.
        Assert.Equal(credential["fingerprint"]!.GetValue<string>(), (await CredentialAsync(server, _tenant.Name, id))["fingerprint"]!.GetValue<string>());
        Assert.Single(_entra.TokenRequests("refresh_token"));

        // ImportRefreshToken goes through MSAL's refresh-token redemption.
        mailbox.Username = "dave@contoso.onmicrosoft.com";
        var imported = (await mailboxes.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = mailbox })).Mailbox.MailboxId;
        var outside = _entra.IssueRefreshTokenOutside("dave@contoso.onmicrosoft.com");
        var status = (await auth.ImportRefreshTokenAsync(new ImportRefreshTokenRequest { MailboxId = imported, RefreshToken = outside })).Status;
        Assert.Equal(MailboxState.Active, status.State);
        Assert.True(status.HasRefreshToken);
        Assert.Equal(outside, _entra.TokenRequests("refresh_token")[1].Form["refresh_token"]);
        Assert.Contains((await CredentialAsync(server, _tenant.Name, imported))["fingerprint"]!.GetValue<string>(), _entra.IssuedSecrets.Select(Fingerprint));
    }
}
