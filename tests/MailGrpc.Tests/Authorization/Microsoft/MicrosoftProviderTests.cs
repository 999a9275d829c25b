using System.Text;
using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;
using CredentialKind = MailGrpc.V1.CredentialKind;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Identity.Client;
using StackExchange.Redis;
using MailboxState = MailGrpc.V1.MailboxState;

namespace MailGrpc.Tests.Authorization.Entra;

/// <summary>
/// The Microsoft provider (MSAL.NET confidential client) end to end through the real server, the rig's Redis and an
/// in-process Entra fake serving recorded Entra response shapes (<see cref="EntraFake"/>).
/// </summary>
public sealed class MicrosoftProviderTests : IAsyncLifetime, IDisposable
{
    private const string PopScope = "https://outlook.office.com/POP.AccessAsUser.All";
    private const string RedirectUri = "http://127.0.0.1:5081/oauth/callback";

    private readonly TestTenant _tenant = TestTenant.Create("msal");
    private readonly EntraFake _entra = new();
    private MailGrpcTestHost _host = null!;

    public Task InitializeAsync()
    {
        _host = Host(_entra);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    public void Dispose() => _entra.Dispose();

    private MailGrpcTestHost Host(EntraFake entra, Func<IServiceProvider, IStateStore>? store = null) => new(Settings(_tenant), services =>
    {
        services.AddSingleton<IMsalHttpClientFactory>(entra);
        if (store is not null)
        {
            services.AddSingleton(store);
        }
    });

    internal static Dictionary<string, string?> Settings(params TestTenant[] tenants)
    {
        var settings = MailGrpcTestHost.ApiKeySettings(tenants);
        settings["MailGrpc:Redis:Configuration"] = TestRedis.Configuration;
        settings["MailGrpc:Encryption:Keys:k1"] = OAuthRig.EncryptionKey;
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        settings["MailGrpc:Network:AllowPrivateAddresses"] = "true";
        settings["MailGrpc:Tokens:TransientBackoff"] = "00:00:00.050";
        settings["MailGrpc:OAuthClients:m365:Provider"] = "Microsoft";
        settings["MailGrpc:OAuthClients:m365:ClientId"] = EntraFake.ClientId;
        settings["MailGrpc:OAuthClients:m365:ClientSecret"] = EntraFake.ClientSecret;
        settings["MailGrpc:OAuthClients:m365:TenantId"] = EntraFake.TenantId;
        settings["MailGrpc:OAuthClients:m365:RedirectUris:0"] = RedirectUri;
        return settings;
    }

    private AuthorizationService.AuthorizationServiceClient Auth => _host.Authorization(_tenant.ApiKey);

    private async Task<string> CreateMailboxAsync(string username = "alice@contoso.onmicrosoft.com")
    {
        var created = await _host.Mailboxes(_tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = new Mailbox
            {
                Username = username,
                Server = new ServerSettings { Host = "127.0.0.1", Port = 11995, Security = Security.ImplicitTls },
                AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "m365" } },
            },
        });
        return created.Mailbox.MailboxId;
    }

    private async Task<(string Id, AuthorizationStatus Status)> AuthorizeAsync(string username = "alice@contoso.onmicrosoft.com")
    {
        var id = await CreateMailboxAsync(username);
        var begun = await Auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var callback = _entra.SignIn(begun.AuthorizationUrl);
        var done = await Auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = callback.ToString() });
        return (id, done.Status);
    }

    private async Task<MailboxRecord> MailboxAsync(string id) =>
        await _host.Services.GetRequiredService<MailboxRepository>().GetRequiredAsync(_tenant.Name, id, default);

    private IMailboxCredentials Broker => _host.Services.GetRequiredService<IMailboxCredentials>();

    /// <summary>The MSAL cache blob of the mailbox, decrypted with the server's own protector.</summary>
    private async Task<string?> MsalCacheJsonAsync(string id)
    {
        var blob = await TestRedis.Connection.GetDatabase().HashGetAsync(StoreKeys.MsalCache(_tenant.Name, id), "v");
        if (blob.IsNull)
        {
            return null;
        }

        var protector = _host.Services.GetRequiredService<SecretProtector>();
        return Encoding.UTF8.GetString(protector.Unprotect((byte[])blob!, SecretContext.MsalCache(_tenant.Name, id), out _));
    }

    /// <summary>Every value Redis holds for the tenant, whatever the key type.</summary>
    private async Task<List<(string Key, byte[] Value)>> TenantValuesAsync()
    {
        var db = TestRedis.Connection.GetDatabase();
        var values = new List<(string, byte[])>();
        foreach (var key in TestRedis.KeysContaining(_tenant.Name))
        {
            switch (await db.KeyTypeAsync(key))
            {
                case RedisType.String:
                    values.Add((key, (byte[])(await db.StringGetAsync(key))!));
                    break;
                case RedisType.Hash:
                    values.AddRange((await db.HashGetAllAsync(key)).Select(e => (key, (byte[])e.Value!)));
                    break;
                case RedisType.Set:
                    values.AddRange((await db.SetMembersAsync(key)).Select(m => (key, (byte[])m!)));
                    break;
                case RedisType.SortedSet:
                    values.AddRange((await db.SortedSetRangeByRankAsync(key)).Select(m => (key, (byte[])m!)));
                    break;
            }
        }

        return values;
    }

    [Fact]
    public async Task Authorization_code_flow_with_pkce_and_state_makes_the_mailbox_active_and_stores_only_ciphertext()
    {
        var id = await CreateMailboxAsync();
        var begun = await Auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });

        var url = new Uri(begun.AuthorizationUrl);
        Assert.Equal($"{EntraFake.Host}/{EntraFake.TenantId}/oauth2/v2.0/authorize", url.GetLeftPart(UriPartial.Path));
        var query = QueryHelpers.ParseQuery(url.Query);
        Assert.Equal(begun.State, Assert.Single(query["state"].ToArray()));
        Assert.Equal("S256", query["code_challenge_method"].ToString());
        Assert.Matches("^[A-Za-z0-9_-]{43}$", query["code_challenge"].ToString());
        Assert.Equal(RedirectUri, query["redirect_uri"].ToString());
        Assert.Equal("alice@contoso.onmicrosoft.com", query["login_hint"].ToString());
        var scopes = query["scope"].ToString().Split(' ');
        Assert.Contains(PopScope, scopes);
        Assert.Contains("offline_access", scopes);
        Assert.DoesNotContain(EntraFake.ClientSecret, begun.AuthorizationUrl, StringComparison.Ordinal);

        var done = await Auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = _entra.SignIn(begun.AuthorizationUrl).ToString() });
        Assert.Equal(MailboxState.Active, done.Status.State);
        Assert.Equal(CredentialKind.Delegated, done.Status.CredentialKind);
        Assert.True(done.Status.HasRefreshToken);
        Assert.Contains(PopScope, done.Status.GrantedScopes);

        // The code was redeemed once, with the verifier matching the challenge (the fake refuses anything else) and the secret.
        var redeem = Assert.Single(_entra.TokenRequests("authorization_code"));
        Assert.Equal(RedirectUri, redeem.Form["redirect_uri"]);
        Assert.Contains(PopScope, redeem.Form["scope"].Split(' '));
        Assert.Equal("1", redeem.Form["client_info"]);
        Assert.DoesNotContain(_entra.Requests, r => r.Path.Contains("/discovery/instance", StringComparison.Ordinal)); // instance discovery off

        // MSAL's cache (with the refresh token) is stored — encrypted: no issued token and no secret appears in any Redis value.
        var cacheJson = await MsalCacheJsonAsync(id);
        Assert.NotNull(cacheJson);
        Assert.Contains(_entra.LatestRefreshToken["alice@contoso.onmicrosoft.com"], cacheJson, StringComparison.Ordinal);
        var values = await TenantValuesAsync();
        Assert.Contains(values, v => v.Key == StoreKeys.MsalCache(_tenant.Name, id));
        Assert.Contains(values, v => v.Key == StoreKeys.Credential(_tenant.Name, id));
        var secrets = _entra.IssuedSecrets.Append(EntraFake.ClientSecret).ToList();
        Assert.Equal(4, secrets.Count); // access, refresh and id token, and the client secret
        foreach (var (key, value) in values)
        {
            var text = Encoding.Latin1.GetString(value);
            Assert.DoesNotContain(secrets, s => text.Contains(s[..40], StringComparison.Ordinal) || text.Contains(s[^40..], StringComparison.Ordinal));
            Assert.DoesNotContain("\"secret\"", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_refresh_uses_the_stored_refresh_token_and_saves_the_rotated_one_before_handing_out_the_token()
    {
        _entra.AccessTokenLifetime = 60; // within the 5-minute refresh margin: due at once
        var (id, _) = await AuthorizeAsync();
        var firstRefreshToken = _entra.LatestRefreshToken["alice@contoso.onmicrosoft.com"];
        _entra.AccessTokenLifetime = 3599;

        var credential = await Broker.GetAsync(await MailboxAsync(id), default);

        var refresh = Assert.Single(_entra.TokenRequests("refresh_token"));
        Assert.Equal(firstRefreshToken, refresh.Form["refresh_token"]);
        Assert.Contains(PopScope, refresh.Form["scope"].Split(' '));
        var rotated = _entra.LatestRefreshToken["alice@contoso.onmicrosoft.com"];
        Assert.NotEqual(firstRefreshToken, rotated);
        Assert.True(credential.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(50));
        Assert.Equal(Pop3CredentialKind.AccessToken, credential.Kind);

        // The rotated refresh token replaced the old one in the stored cache by the time the token was handed out.
        var cacheJson = await MsalCacheJsonAsync(id);
        Assert.Contains(rotated, cacheJson!, StringComparison.Ordinal);
        Assert.DoesNotContain(firstRefreshToken, cacheJson!, StringComparison.Ordinal);

        // A fresh token is not refreshed again; a refused one is, with the rotated refresh token.
        Assert.Equal(credential.Secret, (await Broker.GetAsync(await MailboxAsync(id), default)).Secret);
        Assert.Single(_entra.TokenRequests("refresh_token"));
        var renewed = await Broker.RenewAfterRefusalAsync(await MailboxAsync(id), credential, default);
        Assert.NotEqual(credential.Secret, renewed.Secret);
        Assert.Equal(rotated, _entra.TokenRequests("refresh_token")[1].Form["refresh_token"]);
    }

    [Fact]
    public async Task Concurrent_callers_for_an_expiring_token_cause_one_msal_refresh()
    {
        _entra.AccessTokenLifetime = 60;
        var (id, _) = await AuthorizeAsync();
        _entra.AccessTokenLifetime = 3599;
        var mailbox = await MailboxAsync(id);

        var credentials = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => Broker.GetAsync(mailbox, default)));

        Assert.Single(_entra.TokenRequests("refresh_token"));
        Assert.Single(credentials.Select(c => c.Secret).Distinct());
    }

    [Fact]
    public async Task AADSTS70043_invalid_grant_moves_the_mailbox_to_reauthorization_required()
    {
        _entra.AccessTokenLifetime = 60;
        var (id, _) = await AuthorizeAsync();
        _entra.FailGrant = EntraFake.Failure.InvalidGrant70043;

        var error = await Assert.ThrowsAsync<MailGrpcException>(async () => await Broker.GetAsync(await MailboxAsync(id), default));
        Assert.Equal(ErrorKind.FailedPrecondition, error.Kind);
        Assert.Equal(ErrorReasons.ReauthorizationRequired, error.Reason);
        Assert.Single(_entra.TokenRequests("refresh_token")); // a dead grant is not retried

        var status = (await Auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id })).Status;
        Assert.Equal(MailboxState.ReauthorizationRequired, status.State);
        Assert.Equal(ErrorReasons.InvalidGrant, status.LastErrorReason);
        Assert.Contains("AADSTS70043", status.LastErrorMessage, StringComparison.Ordinal);

        // A new consent brings it back.
        _entra.FailGrant = null;
        var begun = await Auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var done = await Auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = _entra.SignIn(begun.AuthorizationUrl).ToString() });
        Assert.Equal(MailboxState.Active, done.Status.State);
    }

    /// <summary>
    /// Without Retry-After every broker retry reaches Entra. With Retry-After, MSAL's process-wide throttling answers the
    /// identical retries itself (MsalThrottledServiceException) until the delay has passed: still UNAVAILABLE, one request.
    /// </summary>
    [Theory]
    [InlineData(false, 3)]
    [InlineData(true, 1)]
    public async Task A_503_is_unavailable_after_the_broker_retries_and_changes_nothing(bool retryAfter, int expectedRequests)
    {
        _entra.AccessTokenLifetime = 3; // expires within 5 s: the broker cannot fall back to the current token
        var (id, _) = await AuthorizeAsync();
        var db = TestRedis.Connection.GetDatabase();
        var cacheBefore = (byte[])(await db.HashGetAsync(StoreKeys.MsalCache(_tenant.Name, id), "v"))!;
        var credentialBefore = (byte[])(await db.HashGetAsync(StoreKeys.Credential(_tenant.Name, id), "v"))!;
        _entra.FailGrant = EntraFake.Failure.ServiceUnavailable;
        _entra.RetryAfter = retryAfter ? TimeSpan.FromSeconds(3) : null;

        var error = await Assert.ThrowsAsync<MailGrpcException>(async () => await Broker.GetAsync(await MailboxAsync(id), default));
        var answered = DateTimeOffset.UtcNow; // Entra's 503 (and its Retry-After) was received before this moment
        Assert.Equal(ErrorKind.Unavailable, error.Kind);
        Assert.Equal(ErrorReasons.ProviderUnavailable, error.Reason);
        Assert.Equal(expectedRequests, _entra.TokenRequests("refresh_token").Count); // one try + two broker retries; MSAL's own retry is off

        var mailbox = await MailboxAsync(id);
        Assert.Equal(MailGrpc.Server.Mailboxes.MailboxState.Active, mailbox.State);
        Assert.Null(mailbox.LastErrorReason);
        Assert.Equal(cacheBefore, (byte[])(await db.HashGetAsync(StoreKeys.MsalCache(_tenant.Name, id), "v"))!);
        Assert.Equal(credentialBefore, (byte[])(await db.HashGetAsync(StoreKeys.Credential(_tenant.Name, id), "v"))!);

        // Entra is back: the same refresh token works, no restart needed.
        _entra.FailGrant = null;
        _entra.AccessTokenLifetime = 3599;
        if (retryAfter)
        {
            // MSAL throttles until Entra's Retry-After has passed; nothing else shows it.
            await Until.PassedAsync(answered + TimeSpan.FromSeconds(3.2));
        }

        var credential = await Broker.GetAsync(mailbox, default);
        Assert.True(credential.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(50));
    }

    [Fact]
    public async Task Client_credentials_request_the_exchange_default_scope_and_store_an_app_only_credential()
    {
        var id = await CreateMailboxAsync("shared-inbox@contoso.onmicrosoft.com");

        var status = (await Auth.AuthorizeWithClientCredentialsAsync(new AuthorizeWithClientCredentialsRequest { MailboxId = id })).Status;

        Assert.Equal(MailboxState.Active, status.State);
        Assert.Equal(CredentialKind.AppOnly, status.CredentialKind);
        Assert.False(status.HasRefreshToken);
        var request = Assert.Single(_entra.TokenRequests("client_credentials"));
        Assert.Equal("https://outlook.office365.com/.default", request.Form["scope"]);
        Assert.Equal(EntraFake.ClientId, request.Form["client_id"]);
        Assert.Null(await MsalCacheJsonAsync(id));

        var credential = await Broker.GetAsync(await MailboxAsync(id), default);
        Assert.Equal("shared-inbox@contoso.onmicrosoft.com", credential.Username);
        Assert.Contains(credential.Secret, _entra.IssuedSecrets);
    }

    [Fact]
    public async Task Device_flow_is_not_supported_and_revocation_forgets_locally()
    {
        var (id, _) = await AuthorizeAsync();

        using var call = Auth.StartDeviceAuthorization(new StartDeviceAuthorizationRequest { MailboxId = id });
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, ErrorReasons.DeviceFlowNotSupported, () => call.ResponseStream.MoveNext(default));

        var revoked = await Auth.RevokeAuthorizationAsync(new RevokeAuthorizationRequest { MailboxId = id });
        Assert.False(revoked.RevokedAtProvider);
        Assert.Equal(MailboxState.PendingAuthorization, revoked.Status.State);
        Assert.Empty(TestRedis.KeysContaining($"{_tenant.Name}:{id}}}:msal"));
        Assert.Empty(TestRedis.KeysContaining($"{_tenant.Name}:{id}}}:credential"));
    }

    [Fact]
    public async Task An_imported_refresh_token_is_redeemed_through_msal_and_lands_in_the_encrypted_cache()
    {
        var id = await CreateMailboxAsync("bob@contoso.onmicrosoft.com");
        var outside = _entra.IssueRefreshTokenOutside("bob@contoso.onmicrosoft.com");

        var status = (await Auth.ImportRefreshTokenAsync(new ImportRefreshTokenRequest { MailboxId = id, RefreshToken = outside })).Status;

        Assert.Equal(MailboxState.Active, status.State);
        Assert.True(status.HasRefreshToken);
        Assert.Equal(outside, Assert.Single(_entra.TokenRequests("refresh_token")).Form["refresh_token"]);
        var cacheJson = await MsalCacheJsonAsync(id);
        Assert.Contains(_entra.LatestRefreshToken["bob@contoso.onmicrosoft.com"], cacheJson!, StringComparison.Ordinal);
        Assert.DoesNotContain(outside, cacheJson!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_error_in_the_msal_cache_adapter_surfaces_instead_of_being_swallowed()
    {
        var failing = new MsalWriteFailingStore();
        await _host.DisposeAsync();
        _host = Host(_entra, sp => failing.Wrap(new RedisStateStore(sp.GetRequiredService<IConnectionMultiplexer>())));

        // At consent: the code is redeemed, but the cache cannot be written → the RPC fails, nothing claims success.
        failing.Failing = true;
        var id = await CreateMailboxAsync();
        var begun = await Auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var callback = _entra.SignIn(begun.AuthorizationUrl).ToString();
        await RpcAssert.FailsAsync(StatusCode.Unavailable, ErrorReasons.StoreUnavailable, async () => await Auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = callback }));
        Assert.Single(_entra.TokenRequests("authorization_code"));
        Assert.Equal(MailGrpc.Server.Mailboxes.MailboxState.PendingAuthorization, (await MailboxAsync(id)).State);
        Assert.Empty(TestRedis.KeysContaining($"{_tenant.Name}:{id}}}:credential"));

        // At refresh: the rotated refresh token cannot be saved → the broker fails and the stored credential is untouched.
        failing.Failing = false;
        _entra.AccessTokenLifetime = 60;
        begun = await Auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        await Auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = _entra.SignIn(begun.AuthorizationUrl).ToString() });
        var db = TestRedis.Connection.GetDatabase();
        var credentialBefore = (byte[])(await db.HashGetAsync(StoreKeys.Credential(_tenant.Name, id), "v"))!;
        failing.Failing = true;
        await Assert.ThrowsAsync<RedisConnectionException>(async () => await Broker.GetAsync(await MailboxAsync(id), default));
        Assert.Single(_entra.TokenRequests("refresh_token"));
        Assert.Equal(credentialBefore, (byte[])(await db.HashGetAsync(StoreKeys.Credential(_tenant.Name, id), "v"))!);
        Assert.True(failing.Failures >= 2);
    }
}
