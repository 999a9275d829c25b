using Grpc.Core;
using MailGrpc.Tests.Authorization.Strict;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Rig;
using MailGrpc.V1;

namespace MailGrpc.Tests.Authorization;

/// <summary>
/// Issue #15's parts on the authorization side: SetMailboxPassword tries the password with one POP3 login before storing
/// it; the Web endpoint answers unknown paths with a page for people; a RedirectUri this server does not serve is a
/// warning at start.
/// </summary>
[Collection("rig")]
public sealed class FirstContactTests(RigEnvironment rig)
{
    private readonly TestTenant _tenant = TestTenant.Create("first");

    private Dictionary<string, string?> Settings()
    {
        var settings = MailGrpcTestHost.ApiKeySettings(_tenant);
        settings["MailGrpc:Redis:Configuration"] = rig.Redis;
        settings["MailGrpc:Encryption:Keys:k1"] = OAuthRig.EncryptionKey;
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        settings["MailGrpc:Network:AllowPrivateAddresses"] = "true";
        return settings;
    }

    [Fact]
    public async Task SetMailboxPassword_refuses_a_wrong_password_at_once_and_stores_nothing()
    {
        var user = RigEnvironment.NewUser("setpw");
        rig.AddPasswordUser(user, "right-Password-1");
        await using var host = new MailGrpcTestHost(Settings());
        var id = (await host.Mailboxes(_tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3Port, Security = Security.None }, AuthMethod = new AuthMethod { Password = new PasswordAuth() } },
        })).Mailbox.MailboxId;
        var auth = host.Authorization(_tenant.ApiKey);

        var ex = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "POP3_CREDENTIAL_REFUSED", async () => await auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = "wrong-Password-1" }));
        Assert.Contains(user, ex.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-Password-1", ex.Status.Detail, StringComparison.Ordinal);
        var status = (await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id })).Status;
        Assert.Equal(MailboxState.PendingAuthorization, status.State);
        Assert.Equal(CredentialKind.Unspecified, status.CredentialKind);

        var ok = await auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = "right-Password-1" });
        Assert.Equal(MailboxState.Active, ok.Status.State);
        Assert.Equal(user, ok.Status.Account);

        // The option to skip: stored as given, not tried.
        var skipped = await auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = "wrong-Password-1", SkipVerification = true });
        Assert.Equal(MailboxState.Active, skipped.Status.State);
        Assert.Equal(string.Empty, skipped.Status.Account);
    }

    [Fact]
    public async Task Unknown_paths_of_the_web_endpoint_get_a_page_that_names_the_callback_path()
    {
        await using var host = new MailGrpcTestHost(Settings());
        using var web = host.CreateHttpClient();
        using var response = await web.GetAsync(new Uri("/oauth2/callback?code=x", UriKind.Relative));
        var html = await response.Content.ReadAsStringAsync();
        Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/html; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Contains("web endpoint of a MailGrpc server", html, StringComparison.Ordinal);
        Assert.Contains("<code>/oauth/callback</code>", html, StringComparison.Ordinal);
        Assert.Contains("<code>/oauth2/callback</code>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("code=x", html, StringComparison.Ordinal);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        Assert.Equal("default-src 'none'", response.Headers.GetValues("Content-Security-Policy").Single());

        // Markup in the path is encoded, and a long path is cut.
        using var evil = await web.GetAsync(new Uri("/%3Cscript%3E" + new string('a', 5000), UriKind.Relative));
        var evilHtml = await evil.Content.ReadAsStringAsync();
        Assert.DoesNotContain("<script>", evilHtml, StringComparison.Ordinal);
        Assert.True(evilHtml.Length < 3000);
    }

    [Fact]
    public async Task A_redirect_uri_on_this_server_with_a_path_it_does_not_serve_is_a_warning_at_start_naming_the_served_path()
    {
        var webPort = StrictOidc.FreePort();
        var settings = Settings();
        settings["Kestrel:Endpoints:Web:Url"] = $"http://127.0.0.1:{webPort}";
        settings["MailGrpc:OAuthClients:c1:Provider"] = "Generic";
        settings["MailGrpc:OAuthClients:c1:ClientId"] = "x";
        settings["MailGrpc:OAuthClients:c1:Authority"] = "https://127.0.0.1:1";
        settings["MailGrpc:OAuthClients:c1:RedirectUris:0"] = $"http://127.0.0.1:{webPort}/oauth2/callback";
        settings["MailGrpc:OAuthClients:c1:RedirectUris:1"] = $"http://localhost:{webPort}/oauth/callback";
        settings["MailGrpc:OAuthClients:c1:RedirectUris:2"] = "https://mail.example.com/oauth2/callback";
        await using var server = await ServerProcess.StartAsync(settings);
        var output = server.Output;
        Assert.Contains($"RedirectUri http://127.0.0.1:{webPort}/oauth2/callback points at this server's Web endpoint, but its path /oauth2/callback is not served", output, StringComparison.Ordinal);
        Assert.Contains("The callback is served at /oauth/callback", output, StringComparison.Ordinal);
        Assert.DoesNotContain($"RedirectUri http://localhost:{webPort}/oauth/callback points", output, StringComparison.Ordinal);
        Assert.DoesNotContain("RedirectUri https://mail.example.com", output, StringComparison.Ordinal);
    }
}
