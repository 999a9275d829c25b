using System.Text.RegularExpressions;
using Google.Rpc;
using Grpc.Core;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Authorization.Strict;

/// <summary>
/// Issue #10's failures, each against the rig's strict OpenID provider (node-oidc-provider) through a real server process
/// configured as docs/setup/generic-oidc.md says, with the consent steps done in headless chromium — what a person sees.
/// The tests are in three classes (below), each its own xunit collection (the default), so that they overlap: each test has its own client at the
/// provider, its own server process, tenant and accounts, and its own browser context.
/// </summary>
public abstract class StrictProviderTests
{
    private protected readonly TestTenant _tenant = TestTenant.Create("strict");

    private protected sealed record Setup(ServerProcess Server, string ClientId, string? Secret, int WebPort) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Server.DisposeAsync();
    }

    private protected async Task<Setup> StartAsync(Action<Dictionary<string, string?>>? tweak = null, string authMethod = "client_secret_basic")
    {
        var webPort = StrictOidc.FreePort();
        var (clientId, secret) = await StrictOidc.RegisterClientAsync(webPort, authMethod);
        var settings = StrictOidc.Settings(clientId, secret, webPort, _tenant);
        tweak?.Invoke(settings);
        return new Setup(await ServerProcess.StartAsync(settings), clientId, secret, webPort);
    }

    private protected async Task<string> CreateAsync(ServerProcess server, string username, string displayName = "") =>
        (await server.Mailboxes(_tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest { Mailbox = StrictOidc.Mailbox(username, displayName) })).Mailbox.MailboxId;

    private protected async Task<AuthorizationStatus> StatusAsync(ServerProcess server, string id) =>
        (await server.Authorization(_tenant.ApiKey).GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id })).Status;

    private protected static Dictionary<string, string> Metadata(RpcException ex) => ex.GetRpcStatus()!.GetDetail<ErrorInfo>()!.Metadata.ToDictionary(p => p.Key, p => p.Value);

    private protected async Task AssertNothingStoredAsync(ServerProcess server, string id)
    {
        var status = await StatusAsync(server, id);
        Assert.Equal(MailboxState.PendingAuthorization, status.State);
        Assert.Equal(CredentialKind.Unspecified, status.CredentialKind);
        Assert.Empty(TestRedis.KeysContaining($"{{mbx:{_tenant.Name}:{id}}}:credential"));
    }
}

/// <summary>Strict provider: consent in the browser: who consented, what the person sees, what is stored.</summary>
public sealed class StrictConsentTests : StrictProviderTests
{
    [Fact]
    public async Task Browser_consent_connects_the_account_names_it_on_the_page_and_a_reload_says_already_done()
    {
        await using var setup = await StartAsync();
        var user = StrictOidc.NewUser("alice");
        var id = await CreateAsync(setup.Server, user, "Alice's inbox");
        var begun = await setup.Server.Authorization(_tenant.ApiKey).BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        Assert.Contains("prompt=consent", begun.AuthorizationUrl, StringComparison.Ordinal);

        // The person consents; the provider redirects the browser to the server's callback, which shows the page.
        var stopped = await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl, "--stop-at", StrictOidc.RedirectUri(setup.WebPort));
        Assert.Contains("iss=", stopped.Url, StringComparison.Ordinal);
        var page = await StrictOidc.BrowserAsync("open", stopped.Url);
        Assert.Equal(200, page.Status);
        Assert.Equal("Mailbox connected", page.Title);
        Assert.Contains($"Your account {user} is now connected to the mailbox Alice's inbox ({user})", page.Text, StringComparison.Ordinal);
        Assert.Contains("you do not need to sign in again", page.Text, StringComparison.Ordinal);
        Assert.Equal("no-store", page.Headers["cache-control"]?.GetValue<string>());
        Assert.Equal("default-src 'none'", page.Headers["content-security-policy"]?.GetValue<string>());
        Assert.Equal("no-referrer", page.Headers["referrer-policy"]?.GetValue<string>());

        var status = await StatusAsync(setup.Server, id);
        Assert.Equal(MailboxState.Active, status.State);
        Assert.True(status.HasRefreshToken);
        Assert.Equal(user, status.Account);
        Assert.Null(status.AccessEndTime);

        // Reloading the completed link: "already done", not a failure.
        var reload = await StrictOidc.BrowserAsync("open", stopped.Url);
        Assert.Equal(200, reload.Status);
        Assert.Equal("Already done", reload.Title);
        Assert.Contains($"your account {user} is connected", reload.Text, StringComparison.Ordinal);

        // The stored token logs in at the strict provider's Dovecot (introspection) through the server.
        var listed = await setup.Server.Messages(_tenant.ApiKey).ListMessagesAsync(new ListMessagesRequest { MailboxId = id });
        Assert.Empty(listed.Messages);
    }

    [Fact]
    public async Task Without_prompt_consent_no_refresh_token_is_issued_and_the_completion_is_refused_loudly()
    {
        await using var setup = await StartAsync(s => s["MailGrpc:OAuthClients:strict:PromptConsent"] = "false");
        var user = StrictOidc.NewUser("norefresh");
        var id = await CreateAsync(setup.Server, user);
        var auth = setup.Server.Authorization(_tenant.ApiKey);
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        Assert.DoesNotContain("prompt=consent", begun.AuthorizationUrl, StringComparison.Ordinal);
        var stopped = await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl, "--stop-at", StrictOidc.RedirectUri(setup.WebPort));

        var ex = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "REFRESH_TOKEN_NOT_ISSUED", async () => await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = stopped.Url }));
        Assert.Contains("PromptConsent is off", ex.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("invalid_grant", ex.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("offline_access", Metadata(ex)["granted_scopes"], StringComparison.Ordinal);
        await AssertNothingStoredAsync(setup.Server, id);

        // The person's page says the connection was not kept.
        var begun2 = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var page = await StrictOidc.BrowserAsync("authorize", begun2.AuthorizationUrl);
        Assert.Equal(400, page.Status);
        Assert.Equal("Connection not kept", page.Title);
        Assert.Contains("REFRESH_TOKEN_NOT_ISSUED", page.Text, StringComparison.Ordinal);
        await AssertNothingStoredAsync(setup.Server, id);
    }

    [Fact]
    public async Task An_access_token_only_client_is_told_when_access_ends()
    {
        await using var setup = await StartAsync(s =>
        {
            s["MailGrpc:OAuthClients:strict:PromptConsent"] = "false";
            s["MailGrpc:OAuthClients:strict:AllowAccessTokenOnly"] = "true";
        });
        var user = StrictOidc.NewUser("atonly");
        var id = await CreateAsync(setup.Server, user);
        var begun = await setup.Server.Authorization(_tenant.ApiKey).BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var page = await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl);
        Assert.Equal("Mailbox connected", page.Title);
        var status = await StatusAsync(setup.Server, id);
        Assert.Equal(MailboxState.Active, status.State);
        Assert.False(status.HasRefreshToken);
        Assert.NotNull(status.AccessEndTime);
        Assert.Equal(status.AccessTokenExpireTime, status.AccessEndTime);
        Assert.Contains($"until {status.AccessEndTime.ToDateTimeOffset():yyyy-MM-dd HH:mm} UTC", page.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Consent_by_another_account_stores_nothing_and_names_both_accounts()
    {
        await using var setup = await StartAsync();
        var alice = StrictOidc.NewUser("alice");
        var mallory = StrictOidc.NewUser("mallory");
        var id = await CreateAsync(setup.Server, alice);
        var auth = setup.Server.Authorization(_tenant.ApiKey);

        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var stopped = await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl, "--login", mallory, "--stop-at", StrictOidc.RedirectUri(setup.WebPort));
        var ex = await RpcAssert.FailsAsync(StatusCode.PermissionDenied, "IDENTITY_MISMATCH", async () => await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = stopped.Url }));
        Assert.Equal(mallory, Metadata(ex)["consented_account"]);
        Assert.Equal(alice, Metadata(ex)["expected_account"]);
        Assert.Contains(mallory, ex.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(alice, ex.Status.Detail, StringComparison.Ordinal);

        // What the person sees.
        var begun2 = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var page = await StrictOidc.BrowserAsync("authorize", begun2.AuthorizationUrl, "--login", mallory);
        Assert.Equal(403, page.Status);
        Assert.Equal("Wrong account", page.Title);
        Assert.Contains($"You signed in as {mallory}, but this mailbox belongs to {alice}", page.Text, StringComparison.Ordinal);

        await AssertNothingStoredAsync(setup.Server, id);
        // The refused grants were revoked at the provider, not left alive.
        Assert.True(StrictOidc.Count(await StrictOidc.StatsAsync(setup.ClientId), "revocations", "ok") >= 2);
    }

    [Fact]
    public async Task A_device_code_approved_by_another_account_stores_nothing()
    {
        await using var setup = await StartAsync();
        var alice = StrictOidc.NewUser("alice");
        var mallory = StrictOidc.NewUser("mallory");
        var id = await CreateAsync(setup.Server, alice);
        using var call = setup.Server.Authorization(_tenant.ApiKey).StartDeviceAuthorization(new StartDeviceAuthorizationRequest { MailboxId = id });
        Assert.True(await call.ResponseStream.MoveNext());
        var prompt = call.ResponseStream.Current.Prompt;
        Assert.False(string.IsNullOrEmpty(prompt.VerificationUriComplete));

        var page = await StrictOidc.BrowserAsync("device", prompt.VerificationUriComplete, "--login", mallory);
        Assert.Contains("Sign-in Success", page.Text, StringComparison.OrdinalIgnoreCase);
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.PermissionDenied, ex.StatusCode);
        Assert.Equal("IDENTITY_MISMATCH", RpcAssert.Reason(ex));
        Assert.Equal(mallory, Metadata(ex)["consented_account"]);
        Assert.Equal(alice, Metadata(ex)["expected_account"]);
        await AssertNothingStoredAsync(setup.Server, id);
    }
}

/// <summary>Strict provider: the issuer check and how the client authenticates at the provider.</summary>
public sealed class StrictClientAuthTests : StrictProviderTests
{
    [Fact]
    public async Task A_forged_or_missing_iss_is_refused_before_the_code_is_redeemed_and_stores_nothing()
    {
        await using var setup = await StartAsync();
        var id = await CreateAsync(setup.Server, StrictOidc.NewUser("mixup"));
        var auth = setup.Server.Authorization(_tenant.ApiKey);

        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var stopped = await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl, "--stop-at", StrictOidc.RedirectUri(setup.WebPort));
        var forged = Regex.Replace(stopped.Url, "iss=[^&]*", "iss=" + Uri.EscapeDataString("https://attacker.example"));
        Assert.NotEqual(stopped.Url, forged);
        var ex = await RpcAssert.FailsAsync(StatusCode.PermissionDenied, "ISSUER_MISMATCH", async () => await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = forged }));
        Assert.Equal(StrictOidc.Issuer, Metadata(ex)["expected_issuer"]);
        Assert.DoesNotContain("attacker.example", ex.Status.Detail, StringComparison.Ordinal);

        // The same through the state/code/iss fields.
        var begun2 = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var stopped2 = new Uri((await StrictOidc.BrowserAsync("authorize", begun2.AuthorizationUrl, "--stop-at", StrictOidc.RedirectUri(setup.WebPort))).Url);
        var query = System.Web.HttpUtility.ParseQueryString(stopped2.Query);
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, "ISSUER_MISSING", async () => await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { State = query["state"], Code = query["code"] }));

        // In the browser: a forged iss gets its own page.
        var begun3 = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var stopped3 = await StrictOidc.BrowserAsync("authorize", begun3.AuthorizationUrl, "--stop-at", StrictOidc.RedirectUri(setup.WebPort));
        var page = await StrictOidc.BrowserAsync("open", Regex.Replace(stopped3.Url, "iss=[^&]*", "iss=" + Uri.EscapeDataString("https://attacker.example")));
        Assert.Equal(403, page.Status);
        Assert.Equal("Sign-in not accepted", page.Title);

        await AssertNothingStoredAsync(setup.Server, id);
        // No code ever reached the token endpoint.
        Assert.Equal(0, StrictOidc.Count(await StrictOidc.StatsAsync(setup.ClientId), "grants", "authorization_code", "ok"));
    }

    [Theory]
    [InlineData("client_secret_basic", "")]
    [InlineData("client_secret_post", "client_secret_post")]
    public async Task Each_client_authenticates_the_way_it_registered(string registered, string configured)
    {
        await using var setup = await StartAsync(s => s["MailGrpc:OAuthClients:strict:TokenEndpointAuthMethod"] = configured, registered);
        var user = StrictOidc.NewUser("auth");
        var id = await CreateAsync(setup.Server, user);
        var begun = await setup.Server.Authorization(_tenant.ApiKey).BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        Assert.Equal("Mailbox connected", (await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl)).Title);
        var stats = await StrictOidc.StatsAsync(setup.ClientId);
        Assert.Equal(1, StrictOidc.Count(stats, "grants", "authorization_code", "ok"));
        Assert.Null(stats["clientAuthRefused"]);
    }

    [Fact]
    public async Task A_private_key_jwt_client_authenticates_with_its_certificate()
    {
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=MailGrpc test client", rsa, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var pem = Path.Combine(Path.GetTempPath(), $"mailgrpc-client-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(pem, certificate.ExportCertificatePem() + "\n" + rsa.ExportPkcs8PrivateKeyPem());
        try
        {
            var parameters = rsa.ExportParameters(false);
            var jwks = new System.Text.Json.Nodes.JsonObject
            {
                ["keys"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
                {
                    ["kty"] = "RSA",
                    ["use"] = "sig",
                    ["alg"] = "RS256",
                    ["kid"] = certificate.Thumbprint,
                    ["n"] = Convert.ToBase64String(parameters.Modulus!).TrimEnd('=').Replace('+', '-').Replace('/', '_'),
                    ["e"] = Convert.ToBase64String(parameters.Exponent!).TrimEnd('=').Replace('+', '-').Replace('/', '_'),
                }),
            };
            var webPort = StrictOidc.FreePort();
            var (clientId, secret) = await StrictOidc.RegisterClientAsync(webPort, "private_key_jwt", jwks);
            Assert.Null(secret);
            var settings = StrictOidc.Settings(clientId, null, webPort, _tenant);
            settings.Remove("MailGrpc:OAuthClients:strict:ClientSecret");
            settings["MailGrpc:OAuthClients:strict:ClientCertificateFile"] = pem;
            await using var server = await ServerProcess.StartAsync(settings);
            var user = StrictOidc.NewUser("pkjwt");
            var id = await CreateAsync(server, user);
            var begun = await server.Authorization(_tenant.ApiKey).BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
            Assert.Equal("Mailbox connected", (await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl)).Title);
            Assert.Equal(MailboxState.Active, (await StatusAsync(server, id)).State);
            var stats = await StrictOidc.StatsAsync(clientId);
            Assert.Equal(1, StrictOidc.Count(stats, "grants", "authorization_code", "ok"));
            Assert.True((await server.Mailboxes(_tenant.ApiKey).DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id })).RevokedAtProvider);
        }
        finally
        {
            File.Delete(pem);
        }
    }

    [Fact]
    public async Task A_client_configured_for_the_wrong_method_is_refused_by_the_provider_and_says_so()
    {
        // Registered for client_secret_post, configured (by default) for client_secret_basic.
        await using var setup = await StartAsync(authMethod: "client_secret_post");
        var id = await CreateAsync(setup.Server, StrictOidc.NewUser("wrongauth"));
        var auth = setup.Server.Authorization(_tenant.ApiKey);
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var stopped = await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl, "--stop-at", StrictOidc.RedirectUri(setup.WebPort));
        var ex = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "OAUTH_CLIENT_REJECTED", async () => await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = stopped.Url }));
        Assert.Contains("client_secret_post", ex.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(1, StrictOidc.Count(await StrictOidc.StatsAsync(setup.ClientId), "clientAuthRefused", "client_secret_basic"));
        await AssertNothingStoredAsync(setup.Server, id);
    }
}

/// <summary>Strict provider: a grant over its life: refreshes across expiries and revocation on delete.</summary>
public sealed class StrictGrantLifecycleTests : StrictProviderTests
{
    [Fact]
    public async Task The_documented_generic_configuration_survives_three_expiries_with_exactly_one_refresh_grant_each()
    {
        await using var setup = await StartAsync(s => s["MailGrpc:Tokens:RefreshMargin"] = "00:00:01");
        await StrictOidc.ConfigureAsync(setup.ClientId, accessTokenTtl: 4);
        var user = StrictOidc.NewUser("rotate");
        var id = await CreateAsync(setup.Server, user);
        var begun = await setup.Server.Authorization(_tenant.ApiKey).BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        Assert.Equal("Mailbox connected", (await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl)).Title);
        var messages = setup.Server.Messages(_tenant.ApiKey);

        for (var expiry = 1; expiry <= 3; expiry++)
        {
            // Wait for the condition (the held access token is past its refresh point), then use the mailbox.
            var expires = (await StatusAsync(setup.Server, id)).AccessTokenExpireTime.ToDateTimeOffset();
            await Until.PassedAsync(expires.AddSeconds(-1));

            await messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id });
            await messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id });
            var stats = await StrictOidc.StatsAsync(setup.ClientId);
            Assert.Equal(expiry, StrictOidc.Count(stats, "grants", "refresh_token", "ok"));
            Assert.Equal(expiry, StrictOidc.Count(stats, "refreshTokensConsumed"));
            Assert.Null(stats["grants"]?["refresh_token"]?["errors"]);
            var status = await StatusAsync(setup.Server, id);
            Assert.Equal(MailboxState.Active, status.State);
            Assert.True(status.AccessTokenExpireTime.ToDateTimeOffset() > expires);
        }
    }

    [Fact]
    public async Task DeleteMailbox_revokes_the_grant_at_the_provider_and_says_so()
    {
        await using var setup = await StartAsync();
        var id = await CreateAsync(setup.Server, StrictOidc.NewUser("delete"));
        var begun = await setup.Server.Authorization(_tenant.ApiKey).BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        Assert.Equal("Mailbox connected", (await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl)).Title);
        Assert.Equal(0, StrictOidc.Count(await StrictOidc.StatsAsync(setup.ClientId), "revocations", "ok"));

        var deleted = await setup.Server.Mailboxes(_tenant.ApiKey).DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id });
        Assert.True(deleted.RevokedAtProvider);
        Assert.Equal(1, StrictOidc.Count(await StrictOidc.StatsAsync(setup.ClientId), "revocations", "ok"));

        // A password mailbox has nothing to revoke.
        var pw = await setup.Server.Mailboxes(_tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = new Mailbox { Username = "pw@rig.test", Server = new ServerSettings { Host = "127.0.0.1", Port = StrictOidc.Pop3Port, Security = Security.None }, AuthMethod = new AuthMethod { Password = new PasswordAuth() } },
        });
        Assert.False((await setup.Server.Mailboxes(_tenant.ApiKey).DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = pw.Mailbox.MailboxId })).RevokedAtProvider);
    }
}
