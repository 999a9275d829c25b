using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;
using CredentialKind = MailGrpc.V1.CredentialKind;
using Microsoft.Extensions.DependencyInjection;
using MailboxState = MailGrpc.V1.MailboxState;

namespace MailGrpc.Tests.Authorization;

/// <summary>The token broker against the rig's OAuth server: refresh, single-flight across processes, rotation, failures, key rotation.</summary>
public sealed class TokenBrokerTests
{
    // Short enough that a test waits for the held access token to expire (the broker refreshes only then; a token valid
    // for more than 5 s is used through a provider outage), long enough to outlive the authorization that gets it: its
    // completion calls the provider's userinfo with that token, which on a loaded machine came 0.6 s after the token was
    // issued — a 1 s token was then refused there (invalid_token) before the test began.
    private const int ShortAccessTokenSeconds = 6;

    private readonly TestTenant _tenant = TestTenant.Create("broker");

    internal static async Task<string> AuthorizeAsync(AuthorizationService.AuthorizationServiceClient auth, MailboxService.MailboxServiceClient mailboxes, string username = "alice@rig.test")
    {
        var id = (await mailboxes.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = OAuthRig.OAuthMailbox(username) })).Mailbox.MailboxId;
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var callback = await OAuthRig.FollowAsync(begun.AuthorizationUrl);
        var done = await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = callback.ToString() });
        Assert.Equal(MailboxState.Active, done.Status.State);
        return id;
    }

    private static Dictionary<string, string?> FastSettings(string clientId, string secret, params TestTenant[] tenants)
    {
        var settings = OAuthRig.Settings(clientId, secret, tenants);
        settings["MailGrpc:Tokens:RefreshMargin"] = "00:00:00";
        settings["MailGrpc:Tokens:TransientBackoff"] = "00:00:00.050";
        return settings;
    }

    /// <summary>When the mailbox's held access token expires, as GetAuthorizationStatus says (reading it refreshes nothing).</summary>
    private static async Task<DateTimeOffset> AccessExpiresAsync(AuthorizationService.AuthorizationServiceClient auth, string mailboxId) =>
        (await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = mailboxId })).Status.AccessTokenExpireTime.ToDateTimeOffset();

    /// <summary>The server process's testing endpoint: the broker's credential for a mailbox (kind, expiry, fingerprint).</summary>
    internal static async Task<JsonObject> ProbeAsync(HttpClient http, string tenant, string mailboxId)
    {
        using var response = await http.PostAsync(new Uri($"/__testing/credentials/{tenant}/{mailboxId}", UriKind.Relative), null);
        var body = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.True(response.IsSuccessStatusCode, body?.ToJsonString());
        return body!;
    }

    [Fact]
    public async Task Two_hundred_concurrent_requests_over_two_processes_for_an_expired_token_cause_exactly_one_refresh()
    {
        var (clientId, secret) = await OAuthRig.RegisterClientAsync(new Dictionary<string, object> { ["accessTokenTtl"] = ShortAccessTokenSeconds });
        var settings = FastSettings(clientId, secret, _tenant);
        await using var first = await ServerProcess.StartAsync(settings);
        await using var second = await ServerProcess.StartAsync(settings);
        var id = await AuthorizeAsync(first.Authorization(_tenant.ApiKey), first.Mailboxes(_tenant.ApiKey));
        await Until.PassedAsync(await AccessExpiresAsync(first.Authorization(_tenant.ApiKey), id));
        Assert.Equal(0, (await OAuthRig.GrantCountAsync(clientId, "refresh_token")).Requests);

        // The refreshed token lives long enough for all 200 requests, however slowly this machine serves them: a second
        // refresh can then only mean that single-flight failed, not that the new token expired meanwhile.
        await OAuthRig.ConfigureAsync(clientId, new() { ["accessTokenTtl"] = 3600 });

        using var http1 = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{first.WebPort}") };
        using var http2 = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{second.WebPort}") };
        var answers = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => ProbeAsync(i % 2 == 0 ? http1 : http2, _tenant.Name, id)));

        Assert.Equal((1, 1), await OAuthRig.GrantCountAsync(clientId, "refresh_token"));
        Assert.Single(answers.Select(a => a["fingerprint"]!.GetValue<string>()).Distinct());
        Assert.All(answers, a => Assert.True(DateTimeOffset.Parse(a["expiresAt"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow));
    }

    [Fact]
    public async Task A_rotated_refresh_token_survives_a_kill_right_after_the_refresh()
    {
        var (clientId, secret) = await OAuthRig.RegisterClientAsync(new Dictionary<string, object> { ["accessTokenTtl"] = ShortAccessTokenSeconds, ["rotateRefreshTokens"] = true, ["revokeGrantOnRefreshTokenReuse"] = true });
        var settings = FastSettings(clientId, secret, _tenant);
        var first = await ServerProcess.StartAsync(settings);
        string id;
        try
        {
            id = await AuthorizeAsync(first.Authorization(_tenant.ApiKey), first.Mailboxes(_tenant.ApiKey));
            await Until.PassedAsync(await AccessExpiresAsync(first.Authorization(_tenant.ApiKey), id));
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{first.WebPort}") };
            await ProbeAsync(http, _tenant.Name, id);
            first.Kill();
        }
        finally
        {
            await first.DisposeAsync();
        }

        Assert.Equal((1, 1), await OAuthRig.GrantCountAsync(clientId, "refresh_token"));
        await using var second = await ServerProcess.StartAsync(settings);
        await Until.PassedAsync(await AccessExpiresAsync(second.Authorization(_tenant.ApiKey), id));
        using var http2 = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{second.WebPort}") };
        await ProbeAsync(http2, _tenant.Name, id);

        // The second refresh used the rotated token: a reused old one would have failed and revoked the grant.
        Assert.Equal((2, 2), await OAuthRig.GrantCountAsync(clientId, "refresh_token"));
        var status = await second.Authorization(_tenant.ApiKey).GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id });
        Assert.Equal(MailboxState.Active, status.Status.State);
    }

    [Fact]
    public async Task Invalid_grant_moves_the_mailbox_to_reauthorization_required()
    {
        var (clientId, secret) = await OAuthRig.RegisterClientAsync(new Dictionary<string, object> { ["accessTokenTtl"] = ShortAccessTokenSeconds });
        await using var host = new MailGrpcTestHost(FastSettings(clientId, secret, _tenant));
        var id = await AuthorizeAsync(host.Authorization(_tenant.ApiKey), host.Mailboxes(_tenant.ApiKey));
        await OAuthRig.ConfigureAsync(clientId, new() { ["failToken"] = "invalid_grant" });
        await Until.PassedAsync(await AccessExpiresAsync(host.Authorization(_tenant.ApiKey), id));

        var repository = host.Services.GetRequiredService<MailboxRepository>();
        var broker = host.Services.GetRequiredService<IMailboxCredentials>();
        var error = await Assert.ThrowsAsync<MailGrpcException>(async () => await broker.GetAsync(await repository.GetRequiredAsync(_tenant.Name, id, default), default));
        Assert.Equal(ErrorKind.FailedPrecondition, error.Kind);
        Assert.Equal("REAUTHORIZATION_REQUIRED", error.Reason);

        var status = (await host.Authorization(_tenant.ApiKey).GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id })).Status;
        Assert.Equal(MailboxState.ReauthorizationRequired, status.State);
        Assert.Equal("INVALID_GRANT", status.LastErrorReason);
        Assert.StartsWith("invalid_grant", status.LastErrorMessage, StringComparison.Ordinal);

        // A new consent brings it back.
        await OAuthRig.ConfigureAsync(clientId, new() { ["failToken"] = "none" });
        var auth = host.Authorization(_tenant.ApiKey);
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var done = await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = (await OAuthRig.FollowAsync(begun.AuthorizationUrl)).ToString() });
        Assert.Equal(MailboxState.Active, done.Status.State);
        Assert.Equal(string.Empty, done.Status.LastErrorReason);
    }

    [Theory]
    [InlineData("503")]
    [InlineData("drop")]
    public async Task A_provider_outage_is_unavailable_leaves_the_state_alone_and_heals_without_a_restart(string failure)
    {
        var (clientId, secret) = await OAuthRig.RegisterClientAsync(new Dictionary<string, object> { ["accessTokenTtl"] = ShortAccessTokenSeconds });
        await using var host = new MailGrpcTestHost(FastSettings(clientId, secret, _tenant));
        var id = await AuthorizeAsync(host.Authorization(_tenant.ApiKey), host.Mailboxes(_tenant.ApiKey));
        await OAuthRig.ConfigureAsync(clientId, new() { ["failToken"] = failure });
        await Until.PassedAsync(await AccessExpiresAsync(host.Authorization(_tenant.ApiKey), id));

        var repository = host.Services.GetRequiredService<MailboxRepository>();
        var broker = host.Services.GetRequiredService<IMailboxCredentials>();
        var mailbox = await repository.GetRequiredAsync(_tenant.Name, id, default);
        var error = await Assert.ThrowsAsync<MailGrpcException>(() => broker.GetAsync(mailbox, default));
        Assert.Equal(ErrorKind.Unavailable, error.Kind);
        Assert.Equal("OAUTH_PROVIDER_UNAVAILABLE", error.Reason);
        Assert.Equal(3, (await OAuthRig.GrantCountAsync(clientId, "refresh_token")).Requests); // one try + two retries
        Assert.Equal(MailGrpc.Server.Mailboxes.MailboxState.Active, (await repository.GetRequiredAsync(_tenant.Name, id, default)).State);

        // Healed: the next call refreshes. The token it gets lives an hour: a short one may already have expired on a loaded
        // machine by the time the assertion below reads the clock, which would say nothing about the broker.
        await OAuthRig.ConfigureAsync(clientId, new() { ["failToken"] = "none", ["accessTokenTtl"] = 3600 });
        var credential = await broker.GetAsync(mailbox, default);
        Assert.True(credential.ExpiresAt > DateTimeOffset.UtcNow);
        Assert.Equal(1, (await OAuthRig.GrantCountAsync(clientId, "refresh_token")).Ok);
    }

    [Fact]
    public async Task A_provider_that_does_not_answer_is_retried_then_unavailable_not_a_timeout()
    {
        var (clientId, secret) = await OAuthRig.RegisterClientAsync(new Dictionary<string, object> { ["accessTokenTtl"] = ShortAccessTokenSeconds });
        // The authorization runs on a host with the default ProviderTimeout: on a loaded machine its code exchange or
        // userinfo call took longer than the 2 s this test gives the refresh, and the authorization itself timed out. The
        // refresh runs on a second host (same Redis, tenant and keys) with the 2 s bound.
        var settings = FastSettings(clientId, secret, _tenant);
        string id;
        await using (var authorizing = new MailGrpcTestHost(settings))
        {
            id = await AuthorizeAsync(authorizing.Authorization(_tenant.ApiKey), authorizing.Mailboxes(_tenant.ApiKey));
        }

        await using var host = new MailGrpcTestHost(new Dictionary<string, string?>(settings) { ["MailGrpc:Tokens:ProviderTimeout"] = "00:00:02" });
        await OAuthRig.ConfigureAsync(clientId, new() { ["failToken"] = "delay:3000", ["failTokenGrants"] = new[] { "refresh_token" } });

        var repository = host.Services.GetRequiredService<MailboxRepository>();
        var broker = host.Services.GetRequiredService<IMailboxCredentials>();
        var mailbox = await repository.GetRequiredAsync(_tenant.Name, id, default);
        // Wait until the held access token expired and the broker must refresh (a condition, not a fixed sleep). Its expiry
        // is read from the status, which refreshes nothing: asking the broker would itself refresh (and meet the 3 s delay)
        // if the token had expired by then.
        await Until.PassedAsync(await AccessExpiresAsync(host.Authorization(_tenant.ApiKey), id));

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => broker.GetAsync(mailbox, default));
        Assert.Equal(ErrorKind.Unavailable, error.Kind);
        Assert.Equal("OAUTH_PROVIDER_UNAVAILABLE", error.Reason);
        Assert.Equal(MailGrpc.Server.Mailboxes.MailboxState.Active, (await repository.GetRequiredAsync(_tenant.Name, id, default)).State);

        // The rig counts a request when it has answered it (3 s late): wait for the three attempts to be counted.
        var requests = await Until.TrueAsync(async () => (await OAuthRig.GrantCountAsync(clientId, "refresh_token")).Requests, n => n >= 3, TimeSpan.FromSeconds(30));

        Assert.Equal(3, requests); // one try + two retries
        await OAuthRig.ConfigureAsync(clientId, new() { ["failToken"] = "none" });
    }

    [Fact]
    public async Task After_key_rotation_old_tokens_still_work_and_are_rewritten_under_the_new_key()
    {
        var (clientId, secret) = await OAuthRig.RegisterClientAsync();
        var oldSettings = FastSettings(clientId, secret, _tenant);
        string id;
        string token;
        await using (var oldHost = new MailGrpcTestHost(oldSettings))
        {
            id = await AuthorizeAsync(oldHost.Authorization(_tenant.ApiKey), oldHost.Mailboxes(_tenant.ApiKey));
            token = (await oldHost.Services.GetRequiredService<IMailboxCredentials>().GetAsync(await oldHost.Services.GetRequiredService<MailboxRepository>().GetRequiredAsync(_tenant.Name, id, default), default)).Secret;
        }

        var raw = TestRedis.Connection.GetDatabase();
        var key = StoreKeys.Credential(_tenant.Name, id);
        Assert.Equal("k1", SecretProtector.KeyIdOf((byte[])raw.HashGet(key, "v")!));

        var newSettings = new Dictionary<string, string?>(oldSettings)
        {
            ["MailGrpc:Encryption:Keys:k2"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["MailGrpc:Encryption:ActiveKeyId"] = "k2",
        };
        await using (var newHost = new MailGrpcTestHost(newSettings))
        {
            var credential = await newHost.Services.GetRequiredService<IMailboxCredentials>().GetAsync(await newHost.Services.GetRequiredService<MailboxRepository>().GetRequiredAsync(_tenant.Name, id, default), default);
            Assert.Equal(token, credential.Secret);
        }

        Assert.Equal("k2", SecretProtector.KeyIdOf((byte[])raw.HashGet(key, "v")!));

        // With k1 gone, the rewritten credential still reads.
        newSettings.Remove("MailGrpc:Encryption:Keys:k1");
        await using var onlyNew = new MailGrpcTestHost(newSettings);
        var status = await onlyNew.Authorization(_tenant.ApiKey).GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id });
        Assert.Equal(CredentialKind.Delegated, status.Status.CredentialKind);
    }
}
