using System.Text;
using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;
using CredentialKind = MailGrpc.V1.CredentialKind;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using MailboxState = MailGrpc.V1.MailboxState;

namespace MailGrpc.Tests.Authorization;

/// <summary>The authorization-code flow against the rig's real OAuth server over HTTPS, and every way it can be refused.</summary>
public sealed class AuthorizationCodeFlowTests
{
    private readonly TestTenant _tenant = TestTenant.Create("code");

    private async Task<(MailGrpcTestHost Host, string ClientId, string Secret)> StartAsync(object? rigConfig = null, Action<Dictionary<string, string?>>? tweak = null, params TestTenant[] more)
    {
        var (clientId, secret) = await OAuthRig.RegisterClientAsync(rigConfig);
        var settings = OAuthRig.Settings(clientId, secret, [_tenant, .. more]);
        tweak?.Invoke(settings);
        return (new MailGrpcTestHost(settings), clientId, secret);
    }

    private static async Task<string> CreateMailboxAsync(MailGrpcTestHost host, TestTenant tenant, string username = "alice@rig.test") =>
        (await host.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest { Mailbox = OAuthRig.OAuthMailbox(username) })).Mailbox.MailboxId;

    [Fact]
    public async Task Code_flow_through_the_rpc_and_the_http_callback_activates_mailboxes_and_leaves_no_secret_in_redis()
    {
        var (host, clientId, secret) = await StartAsync();
        await using var _ = host;
        var auth = host.Authorization(_tenant.ApiKey);

        // 1. Through CompleteAuthorization with the whole callback URL.
        var first = await CreateMailboxAsync(host, _tenant);
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = first });
        Assert.Equal(OAuthRig.RedirectUri, begun.RedirectUri);
        Assert.Contains("code_challenge_method=S256", begun.AuthorizationUrl, StringComparison.Ordinal);
        Assert.Contains("state=" + begun.State, begun.AuthorizationUrl, StringComparison.Ordinal);
        Assert.Equal("alice@rig.test", System.Web.HttpUtility.ParseQueryString(new Uri(begun.AuthorizationUrl).Query)["login_hint"]);
        var callback = await OAuthRig.FollowAsync(begun.AuthorizationUrl);
        Assert.StartsWith(OAuthRig.RedirectUri + "?", callback.ToString(), StringComparison.Ordinal);
        var completed = await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = callback.ToString() });
        Assert.Equal(MailboxState.Active, completed.Status.State);
        Assert.Equal(CredentialKind.Delegated, completed.Status.CredentialKind);
        Assert.True(completed.Status.HasRefreshToken);
        Assert.True(completed.Status.AccessTokenExpireTime.ToDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(30));
        Assert.Contains("offline_access", completed.Status.GrantedScopes);

        // 2. Through the HTTP callback a browser lands on.
        var second = await CreateMailboxAsync(host, _tenant, "bob@rig.test");
        var begun2 = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = second });
        var callback2 = await OAuthRig.FollowAsync(begun2.AuthorizationUrl);
        using var web = host.CreateHttpClient();
        using var page = await web.GetAsync(callback2.PathAndQuery);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Mailbox connected", html, StringComparison.Ordinal);
        Assert.Contains("bob@rig.test", html, StringComparison.Ordinal);
        Assert.Equal("no-store", page.Headers.CacheControl?.ToString());
        var status2 = await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = second });
        Assert.Equal(MailboxState.Active, status2.Status.State);
        Assert.Equal(MailboxState.Active, (await host.Mailboxes(_tenant.ApiKey).GetMailboxAsync(new GetMailboxRequest { MailboxId = second })).Mailbox.State);

        // The same callback again (a reload): the person is told it is already done.
        using var replay = await web.GetAsync(callback2.PathAndQuery);
        Assert.Equal(System.Net.HttpStatusCode.OK, replay.StatusCode);
        Assert.Contains("Already done", await replay.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The broker hands out the stored token; collect every secret to look for in Redis.
        var repository = host.Services.GetRequiredService<MailboxRepository>();
        var broker = host.Services.GetRequiredService<IMailboxCredentials>();
        var store = host.Services.GetRequiredService<CredentialStore>();
        var secrets = new List<string> { secret };
        foreach (var id in new[] { first, second })
        {
            var credential = await broker.GetAsync(await repository.GetRequiredAsync(_tenant.Name, id, default), default);
            Assert.Equal(Pop3CredentialKind.AccessToken, credential.Kind);
            var stored = (await store.GetAsync(_tenant.Name, id, default))!.Credential;
            Assert.Equal(stored.AccessToken, credential.Secret);
            secrets.Add(stored.AccessToken!);
            secrets.Add(stored.RefreshToken!);

            // The stored token logs in to the rig's Dovecot (it introspects the token at the rig's OAuth server).
            using var pop3 = new MailKit.Net.Pop3.Pop3Client();
            await pop3.ConnectAsync("127.0.0.1", OAuthRig.Pop3Port, MailKit.Security.SecureSocketOptions.None);
            await pop3.AuthenticateAsync(new MailKit.Security.SaslMechanismOAuth2(credential.Username, credential.Secret));
            Assert.True(pop3.IsAuthenticated);
            await pop3.DisconnectAsync(true);
        }

        // The status RPCs never carry a token.
        Assert.DoesNotContain(secrets, s => completed.ToString().Contains(s, StringComparison.Ordinal) || status2.ToString().Contains(s, StringComparison.Ordinal));
        AssertRedisHoldsNoSecret(_tenant.Name, secrets);
    }

    [Fact]
    public async Task Refused_callbacks_each_have_their_own_status_and_reason_and_store_nothing()
    {
        var other = TestTenant.Create("other");
        var (host, _, _) = await StartAsync(more: other);
        await using var _ = host;
        var auth = host.Authorization(_tenant.ApiKey);
        var id = await CreateMailboxAsync(host, _tenant);

        // Unlisted redirect URI.
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "REDIRECT_URI_NOT_ALLOWED", async () => await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id, RedirectUri = "http://127.0.0.1:5081/oauth/callback/../evil" }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "REDIRECT_URI_NOT_ALLOWED", async () => await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id, RedirectUri = "https://attacker.example/cb" }));

        // Another tenant's state: refused, and the state still works for its owner afterwards.
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var callback = await OAuthRig.FollowAsync(begun.AuthorizationUrl);
        await RpcAssert.FailsAsync(StatusCode.PermissionDenied, "STATE_TENANT_MISMATCH", async () => await host.Authorization(other.ApiKey).CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = callback.ToString() }));

        // Wrong code with a valid state.
        var begunWrong = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "INVALID_GRANT", async () => await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { State = begunWrong.State, Code = "not-a-code" }));

        // Wrong PKCE verifier: a code issued for one flow, injected into another flow's state.
        var flowA = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var flowB = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var codeA = System.Web.HttpUtility.ParseQueryString((await OAuthRig.FollowAsync(flowA.AuthorizationUrl)).Query)["code"]!;
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "PKCE_VERIFICATION_FAILED", async () => await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { State = flowB.State, Code = codeA }));

        // Unknown state.
        await RpcAssert.FailsAsync(StatusCode.NotFound, "STATE_NOT_FOUND", async () => await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { State = new string('A', 43), Code = "x" }));

        // Nothing was stored by any of these.
        var status = await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id });
        Assert.Equal(MailboxState.PendingAuthorization, status.Status.State);
        Assert.Equal(CredentialKind.Unspecified, status.Status.CredentialKind);
        Assert.Empty(TestRedis.KeysContaining($"{{mbx:{_tenant.Name}:{id}}}:credential"));

        // The owner completes; then the same state again is a replay.
        var done = await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = callback.ToString() });
        Assert.Equal(MailboxState.Active, done.Status.State);
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "STATE_ALREADY_USED", async () => await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = callback.ToString() }));
    }

    [Fact]
    public async Task An_expired_state_is_refused_as_expired()
    {
        var (host, _, _) = await StartAsync(tweak: s => s["MailGrpc:Tokens:PendingAuthorizationLifetime"] = "00:00:01");
        await using var _ = host;
        var auth = host.Authorization(_tenant.ApiKey);
        var id = await CreateMailboxAsync(host, _tenant);
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var callback = await OAuthRig.FollowAsync(begun.AuthorizationUrl);
        await Until.PassedAsync(begun.ExpireTime.ToDateTimeOffset());
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "STATE_EXPIRED", async () => await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = callback.ToString() }));
        var status = await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id });
        Assert.Equal(CredentialKind.Unspecified, status.Status.CredentialKind);
    }

    [Fact]
    public async Task Deleting_the_mailbox_forgets_its_tokens_and_pending_states()
    {
        var (host, _, _) = await StartAsync();
        await using var _ = host;
        var auth = host.Authorization(_tenant.ApiKey);
        var id = await CreateMailboxAsync(host, _tenant);
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = (await OAuthRig.FollowAsync(begun.AuthorizationUrl)).ToString() });
        var pendingBegun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        // Pending states are stored under their hash: the live state never appears in Redis.
        var hashed = MailGrpc.Server.Authorization.Flows.PendingAuthorizations.Hash(pendingBegun.State);
        Assert.NotEmpty(TestRedis.KeysContaining($"{{auth:{hashed}}}"));
        Assert.Empty(TestRedis.KeysContaining(pendingBegun.State));
        Assert.DoesNotContain(pendingBegun.State, TestRedis.Connection.GetDatabase().SetMembers(TestRedis.KeysContaining($"{{mbx:{_tenant.Name}:{id}}}").First(k => k.Contains("pending", StringComparison.Ordinal))).Select(m => m.ToString()));

        var deleted = await host.Mailboxes(_tenant.ApiKey).DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id });
        Assert.True(deleted.RevokedAtProvider);

        // Only the mailbox's expiring tombstone stays (it answers a retried delete); nothing else of it.
        Assert.Equal([$"mailgrpc:{{mbx:{_tenant.Name}:{id}}}:mailbox"], TestRedis.KeysContaining($"{{mbx:{_tenant.Name}:{id}}}"));
        Assert.Empty(TestRedis.KeysContaining($"{{auth:{hashed}}}"));
    }

    /// <summary>Dumps every key of the tenant (and every pending state) and looks for each secret, raw and base64.</summary>
    internal static void AssertRedisHoldsNoSecret(string tenant, IEnumerable<string> secrets)
    {
        var db = TestRedis.Connection.GetDatabase();
        var keys = TestRedis.KeysContaining(tenant).Concat(TestRedis.KeysContaining("{auth:")).ToArray();
        Assert.NotEmpty(keys);
        var dump = new StringBuilder();
        foreach (var key in keys)
        {
            switch (db.KeyType(key))
            {
                case RedisType.String:
                    dump.Append(Encoding.Latin1.GetString((byte[])db.StringGet(key)!));
                    break;
                case RedisType.Hash:
                    foreach (var entry in db.HashGetAll(key))
                    {
                        dump.Append(entry.Name).Append(Encoding.Latin1.GetString((byte[])entry.Value!));
                    }

                    break;
                case RedisType.Set:
                    dump.AppendJoin(' ', db.SetMembers(key).Select(m => m.ToString()));
                    break;
                case RedisType.SortedSet:
                    dump.AppendJoin(' ', db.SortedSetRangeByRank(key).Select(m => m.ToString()));
                    break;
            }
        }

        var text = dump.ToString();
        foreach (var secret in secrets.Where(s => !string.IsNullOrEmpty(s)))
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(secret[..Math.Min(16, secret.Length)], text, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(secret)), text, StringComparison.Ordinal);
        }
    }
}
