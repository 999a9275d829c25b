using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MailGrpc.Tests.Authorization;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;

namespace MailGrpc.Tests.Operations;

/// <summary>
/// The end-to-end flows with real secrets in a server process logging at Debug: a password mailbox, the authorization-code
/// flow against the rig's OAuth server, an imported refresh token, forced refreshes and streaming. No line of the
/// process's output may hold any of the secrets involved, nor anything that looks like a JWT.
/// </summary>
[Collection("pop3")]
public sealed partial class LogLeakTests(Pop3Rig rig)
{
    [Fact]
    public async Task At_debug_level_no_log_line_holds_a_password_token_code_client_secret_encryption_key_or_api_key()
    {
        var tenant = TestTenant.Create("leak");
        var clientSecret = rig.Env("OAUTH_CLIENT_SECRET");
        var settings = OAuthRig.Settings(rig.Env("OAUTH_CLIENT_ID"), clientSecret, tenant);
        settings["MailGrpc:Redis:Configuration"] = rig.Redis;
        settings["MailGrpc:Tls:ExtraTrustedCaFile"] = rig.CaFile;
        settings["MailGrpc:Tokens:RefreshMargin"] = "02:00:00"; // rig tokens live 1 h: every use refreshes
        settings["Logging:LogLevel:Default"] = "Debug";
        settings["Logging:LogLevel:Microsoft"] = "Debug";
        settings["Logging:LogLevel:System"] = "Debug";
        settings["Logging:Console:FormatterName"] = "json";
        settings["Logging:Console:FormatterOptions:IncludeScopes"] = "true";
        await using var server = await ServerProcess.StartAsync(settings);
        var mailboxes = server.Mailboxes(tenant.ApiKey);
        var auth = server.Authorization(tenant.ApiKey);
        var secrets = new List<string> { tenant.ApiKey, tenant.KeyHash, clientSecret, OAuthRig.EncryptionKey };

        // 1. Password mailbox with a known password, streamed.
        var pwUser = Pop3Rig.NewUser("leak-pw");
        var password = rig.AddPasswordUser(pwUser);
        secrets.Add(password);
        await rig.SeedAsync(pwUser, [Pop3Rig.MakeMessage(0, 20_000)]);
        var pwId = await CreateAsync(mailboxes, pwUser, new AuthMethod { Password = new PasswordAuth() });
        await auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = pwId, Password = password });
        Assert.Single(await StreamAllAsync(server, tenant, pwId));

        // 2. Authorization-code flow through the rig's /authorize, then a forced refresh and a stream.
        var codeUser = Pop3Rig.NewUser("leak-code");
        await rig.SeedAsync(codeUser, [Pop3Rig.MakeMessage(1, 10_000)]);
        var codeId = await CreateAsync(mailboxes, codeUser, OAuth());
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = codeId });
        var callback = await OAuthRig.FollowAsync(begun.AuthorizationUrl);
        secrets.Add(System.Web.HttpUtility.ParseQueryString(callback.Query)["code"]!);
        var completed = await auth.CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = callback.ToString() });
        Assert.Equal(MailboxState.Active, completed.Status.State);
        Assert.Single(await StreamAllAsync(server, tenant, codeId));

        // 3. An imported refresh token (its raw value is known here), refreshed on each use.
        var importUser = Pop3Rig.NewUser("leak-imp");
        await rig.SeedAsync(importUser, [Pop3Rig.MakeMessage(2, 10_000)]);
        var importId = await CreateAsync(mailboxes, importUser, OAuth());
        var (accessToken, refreshToken) = await rig.IssueGrantAsync(importUser);
        secrets.Add(accessToken);
        Assert.Matches(Jwt(), accessToken); // the pattern below does catch the rig's tokens
        secrets.Add(refreshToken);
        await auth.ImportRefreshTokenAsync(new ImportRefreshTokenRequest { MailboxId = importId, RefreshToken = refreshToken });
        Assert.Single(await StreamAllAsync(server, tenant, importId));
        Assert.Single(await StreamAllAsync(server, tenant, importId));
        await mailboxes.DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = importId });

        // The refreshes really happened (so their tokens went through the process).
        using var http = new HttpClient();
        var scrape = await http.GetStringAsync(new Uri($"http://127.0.0.1:{server.MetricsPort}/metrics"));
        Assert.True(ServerOperationsTests.Value(scrape, "mailgrpc_token_refreshes_total", ("outcome", "success")) >= 3, scrape);

        Assert.Equal(0, await server.TerminateAsync(TimeSpan.FromSeconds(30)));
        var output = server.Output;
        Assert.Contains("\"MailboxId\":\"" + codeId + "\"", output, StringComparison.Ordinal);
        Assert.True(output.Split('\n').Length > 50, "Debug logging produced too few lines to mean anything");
        foreach (var secret in secrets)
        {
            Assert.True(secret.Length >= 8, "a secret too short to search for");
            Assert.DoesNotContain(secret, output, StringComparison.Ordinal);
        }

        Assert.DoesNotMatch(Jwt(), output);
    }

    private static AuthMethod OAuth() => new() { Oauth = new OAuthAuth { Client = "rig", Mechanism = SaslMechanism.Oauthbearer } };

    private async Task<string> CreateAsync(MailboxService.MailboxServiceClient mailboxes, string user, AuthMethod method)
    {
        var id = "lk-" + Guid.NewGuid().ToString("N")[..8];
        await mailboxes.CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox { Username = user, Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls }, AuthMethod = method },
        });
        return id;
    }

    private static async Task<List<StreamedMessage>> StreamAllAsync(ServerProcess server, TestTenant tenant, string id)
    {
        using var call = server.Messages(tenant.ApiKey).StreamMessages(new StreamMessagesRequest { MailboxId = id });
        return await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame);
    }


    [GeneratedRegex(@"eyJ[A-Za-z0-9_-]{10,}\.")]
    private static partial Regex Jwt();
}
