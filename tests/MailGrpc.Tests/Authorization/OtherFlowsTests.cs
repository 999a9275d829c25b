using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Authorization;

/// <summary>Device flow, client credentials, refresh-token import and revocation against the rig's OAuth server.</summary>
public sealed class OtherFlowsTests
{
    private readonly TestTenant _tenant = TestTenant.Create("flows");

    private static async Task<(MailGrpcTestHost Host, string ClientId)> StartAsync(TestTenant tenant, object? config = null)
    {
        var (clientId, secret) = await OAuthRig.RegisterClientAsync(config);
        var settings = OAuthRig.Settings(clientId, secret, tenant);
        settings["MailGrpc:Tokens:TransientBackoff"] = "00:00:00.050";
        return (new MailGrpcTestHost(settings), clientId);
    }

    private async Task<string> CreateAsync(MailGrpcTestHost host) =>
        (await host.Mailboxes(_tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest { Mailbox = OAuthRig.OAuthMailbox("alice@rig.test") })).Mailbox.MailboxId;

    [Fact]
    public async Task Device_flow_streams_the_prompt_then_the_outcome()
    {
        var (host, _) = await StartAsync(_tenant, new Dictionary<string, object> { ["deviceInterval"] = 1 });
        await using var _ = host;
        var id = await CreateAsync(host);
        using var call = host.Authorization(_tenant.ApiKey).StartDeviceAuthorization(new StartDeviceAuthorizationRequest { MailboxId = id });
        Assert.True(await call.ResponseStream.MoveNext(default));
        var prompt = call.ResponseStream.Current.Prompt;
        Assert.False(string.IsNullOrEmpty(prompt.UserCode));
        Assert.StartsWith(OAuthRig.Issuer, prompt.VerificationUri, StringComparison.Ordinal);

        var approve = await OAuthRig.Http.PostAsJsonAsync("__rig/device/approve", new { user_code = prompt.UserCode, username = "alice@rig.test" });
        approve.EnsureSuccessStatusCode();

        Assert.True(await call.ResponseStream.MoveNext(default));
        var completed = call.ResponseStream.Current.Completed;
        Assert.Equal(MailboxState.Active, completed.State);
        Assert.Equal(CredentialKind.Delegated, completed.CredentialKind);
        Assert.True(completed.HasRefreshToken);
        Assert.False(await call.ResponseStream.MoveNext(default));
    }

    [Fact]
    public async Task A_denied_device_code_ends_the_stream_with_access_denied_and_stores_nothing()
    {
        var (host, _) = await StartAsync(_tenant, new Dictionary<string, object> { ["deviceInterval"] = 1 });
        await using var _ = host;
        var id = await CreateAsync(host);
        using var call = host.Authorization(_tenant.ApiKey).StartDeviceAuthorization(new StartDeviceAuthorizationRequest { MailboxId = id });
        Assert.True(await call.ResponseStream.MoveNext(default));
        (await OAuthRig.Http.PostAsJsonAsync("__rig/device/deny", new { user_code = call.ResponseStream.Current.Prompt.UserCode })).EnsureSuccessStatusCode();
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "ACCESS_DENIED", async () => await call.ResponseStream.MoveNext(default));
        var status = await host.Authorization(_tenant.ApiKey).GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id });
        Assert.Equal(CredentialKind.Unspecified, status.Status.CredentialKind);
    }

    [Fact]
    public async Task Client_credentials_store_an_app_only_token()
    {
        var (host, clientId) = await StartAsync(_tenant);
        await using var _ = host;
        var id = await CreateAsync(host);
        var result = await host.Authorization(_tenant.ApiKey).AuthorizeWithClientCredentialsAsync(new AuthorizeWithClientCredentialsRequest { MailboxId = id });
        Assert.Equal(MailboxState.Active, result.Status.State);
        Assert.Equal(CredentialKind.AppOnly, result.Status.CredentialKind);
        Assert.False(result.Status.HasRefreshToken);
        Assert.Equal(1, (await OAuthRig.GrantCountAsync(clientId, "client_credentials")).Ok);
    }

    [Fact]
    public async Task An_imported_refresh_token_is_verified_by_one_refresh_and_a_bad_one_stores_nothing()
    {
        var (host, clientId) = await StartAsync(_tenant);
        await using var _ = host;
        var auth = host.Authorization(_tenant.ApiKey);
        var id = await CreateAsync(host);

        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "INVALID_GRANT", async () => await auth.ImportRefreshTokenAsync(new ImportRefreshTokenRequest { MailboxId = id, RefreshToken = "not-a-refresh-token" }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_REFRESH_TOKEN", async () => await auth.ImportRefreshTokenAsync(new ImportRefreshTokenRequest { MailboxId = id, RefreshToken = "" }));
        Assert.Equal(CredentialKind.Unspecified, (await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id })).Status.CredentialKind);

        var issued = await (await OAuthRig.Http.PostAsJsonAsync("__rig/issue", new { client_id = clientId, username = "alice@rig.test", refresh_token = true })).Content.ReadFromJsonAsync<JsonObject>();
        var refreshToken = issued!["refresh_token"]!.GetValue<string>();
        var imported = await auth.ImportRefreshTokenAsync(new ImportRefreshTokenRequest { MailboxId = id, RefreshToken = refreshToken });
        Assert.Equal(MailboxState.Active, imported.Status.State);
        Assert.True(imported.Status.HasRefreshToken);
        Assert.DoesNotContain(refreshToken, imported.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, (await OAuthRig.GrantCountAsync(clientId, "refresh_token")).Ok);
    }

    [Fact]
    public async Task Revocation_forgets_the_tokens_revokes_them_at_the_provider_and_returns_to_pending()
    {
        var (host, clientId) = await StartAsync(_tenant);
        await using var _ = host;
        var auth = host.Authorization(_tenant.ApiKey);
        var id = await TokenBrokerTests.AuthorizeAsync(auth, host.Mailboxes(_tenant.ApiKey));
        var store = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<MailGrpc.Server.Authorization.Secrets.CredentialStore>(host.Services);
        var refreshToken = (await store.GetAsync(_tenant.Name, id, default))!.Credential.RefreshToken!;
        var revoked = await auth.RevokeAuthorizationAsync(new RevokeAuthorizationRequest { MailboxId = id });
        Assert.True(revoked.RevokedAtProvider);
        Assert.Equal(MailboxState.PendingAuthorization, revoked.Status.State);
        Assert.Equal(CredentialKind.Unspecified, revoked.Status.CredentialKind);
        Assert.Empty(TestRedis.KeysContaining($"{{mbx:{_tenant.Name}:{id}}}:credential"));

        // The provider no longer honours the refresh token.
        using var refresh = await OAuthRig.Http.PostAsync("token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = refreshToken,
            ["client_id"] = clientId,
            ["client_secret"] = host.Settings["MailGrpc:OAuthClients:rig:ClientSecret"]!,
        }));
        Assert.Contains("invalid_grant", await refresh.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
