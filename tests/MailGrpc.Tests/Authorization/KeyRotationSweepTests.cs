using System.Security.Cryptography;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;
using MailGrpc.Tests.Authorization.Entra;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;
using CredentialKind = MailGrpc.V1.CredentialKind;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Identity.Client;

namespace MailGrpc.Tests.Authorization;

/// <summary>
/// <c>MailGrpc:Encryption:ReencryptOnStart</c>: after a key rotation the start-up sweep rewrites every credential and MSAL
/// cache under the new key, without any read in between, so the old key can be dropped.
/// </summary>
public sealed class KeyRotationSweepTests : IDisposable
{
    // Key ids of their own: other test classes share the Redis and use "k1"; the sweep must not touch theirs.
    private readonly string _oldId = "rot-old-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly string _newId = "rot-new-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
    private readonly string _oldKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private readonly string _newKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private readonly TestTenant _tenant = TestTenant.Create("rotate");
    private readonly EntraFake _entra = new();

    public void Dispose() => _entra.Dispose();

    private MailGrpcTestHost Host(bool withOldKey, bool withNewKey, bool activeNew, bool sweep)
    {
        var settings = MicrosoftProviderTests.Settings(_tenant);
        settings.Remove("MailGrpc:Encryption:Keys:k1");
        if (withOldKey)
        {
            settings[$"MailGrpc:Encryption:Keys:{_oldId}"] = _oldKey;
        }

        if (withNewKey)
        {
            settings[$"MailGrpc:Encryption:Keys:{_newId}"] = _newKey;
        }

        settings["MailGrpc:Encryption:ActiveKeyId"] = activeNew ? _newId : _oldId;
        settings["MailGrpc:Encryption:ReencryptOnStart"] = sweep ? "true" : "false";
        return new MailGrpcTestHost(settings, services => services.AddSingleton<IMsalHttpClientFactory>(_entra));
    }

    /// <summary>The key id of every encrypted blob the tenant has in Redis (credentials and MSAL caches).</summary>
    private static async Task<Dictionary<string, string?>> KeyIdsAsync(TestTenant tenant)
    {
        var db = TestRedis.Connection.GetDatabase();
        var ids = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var key in TestRedis.KeysContaining("{mbx:" + tenant.Name + ":").Where(k => k.EndsWith(":credential", StringComparison.Ordinal) || k.EndsWith(":msal", StringComparison.Ordinal)))
        {
            ids[key] = SecretProtector.KeyIdOf((byte[])(await db.HashGetAsync(key, "v"))!);
        }

        return ids;
    }

    [Fact]
    public async Task After_a_rotation_the_start_up_sweep_leaves_no_secret_under_the_old_key()
    {
        string microsoftId;
        var passwordIds = new List<string>();
        await using (var before = Host(withOldKey: true, withNewKey: false, activeNew: false, sweep: false))
        {
            var mailboxes = before.Mailboxes(_tenant.ApiKey);
            var auth = before.Authorization(_tenant.ApiKey);
            for (var i = 0; i < 3; i++)
            {
                var id = (await mailboxes.CreateMailboxAsync(new CreateMailboxRequest
                {
                    Mailbox = new Mailbox
                    {
                        Username = $"user{i}@example.test",
                        Server = new ServerSettings { Host = "127.0.0.1", Port = 11110, Security = Security.None },
                        AuthMethod = new AuthMethod { Password = new PasswordAuth() },
                    },
                })).Mailbox.MailboxId;
                await auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = $"app-password-{i}", SkipVerification = true });
                passwordIds.Add(id);
            }

            microsoftId = (await mailboxes.CreateMailboxAsync(new CreateMailboxRequest
            {
                Mailbox = new Mailbox
                {
                    Username = "alice@contoso.onmicrosoft.com",
                    Server = new ServerSettings { Host = "127.0.0.1", Port = 11995, Security = Security.ImplicitTls },
                    AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "m365" } },
                },
            })).Mailbox.MailboxId;
            var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = microsoftId });
            await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = _entra.SignIn(begun.AuthorizationUrl).ToString() });
        }

        var written = await KeyIdsAsync(_tenant);
        Assert.Equal(5, written.Count); // 3 password credentials, 1 OAuth credential, 1 MSAL cache
        Assert.All(written.Values, id => Assert.Equal(_oldId, id));

        // Rotate: both keys listed, the new one active, sweep on. Nothing reads the secrets meanwhile.
        await using (var rotated = Host(withOldKey: true, withNewKey: true, activeNew: true, sweep: true))
        {
            var sweep = rotated.Services.GetRequiredService<ReencryptionSweep>();
            var result = await sweep.Completion.WaitAsync(TimeSpan.FromSeconds(60));
            Assert.NotNull(result);
            Assert.True(result.Reencrypted >= 4, $"re-encrypted {result.Reencrypted}");
            Assert.True(result.Mailboxes >= 4);
        }

        var after = await KeyIdsAsync(_tenant);
        Assert.Equal(written.Keys.Order(), after.Keys.Order());
        Assert.All(after.Values, id => Assert.Equal(_newId, id));

        // The old key can go: every secret still reads, and the Microsoft mailbox still refreshes through its MSAL cache.
        await using var without = Host(withOldKey: false, withNewKey: true, activeNew: true, sweep: false);
        foreach (var id in passwordIds)
        {
            var status = (await without.Authorization(_tenant.ApiKey).GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id })).Status;
            Assert.Equal(CredentialKind.Password, status.CredentialKind);
        }

        var broker = without.Services.GetRequiredService<IMailboxCredentials>();
        var mailbox = await without.Services.GetRequiredService<MailboxRepository>().GetRequiredAsync(_tenant.Name, microsoftId, default);
        var current = await broker.GetAsync(mailbox, default);
        var renewed = await broker.RenewAfterRefusalAsync(mailbox, current, default);
        Assert.NotEqual(current.Secret, renewed.Secret);
        Assert.Single(_entra.TokenRequests("refresh_token"));
    }

    [Fact]
    public async Task The_sweep_is_off_by_default()
    {
        await using var host = Host(withOldKey: true, withNewKey: true, activeNew: true, sweep: false);
        Assert.Null(await host.Services.GetRequiredService<ReencryptionSweep>().Completion.WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
