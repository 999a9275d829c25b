using System.Text.RegularExpressions;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Authorization.Strict;

/// <summary>
/// Every flow against the strict provider through a server process whose every log category — the framework's own
/// included, globally and for the console provider — is at Trace: the browser's callback (with code, state and iss in its
/// query), refreshes, the device flow, a refused other-account consent and a delete with revocation. No output line may
/// hold the code, the state, a token, the client secret, the API key or the encryption key.
/// </summary>
public sealed partial class StrictLogTests
{
    [Fact]
    public async Task At_trace_level_in_every_category_no_log_line_holds_a_code_state_token_or_secret()
    {
        var tenant = TestTenant.Create("trace");
        var webPort = StrictOidc.FreePort();
        var (clientId, secret) = await StrictOidc.RegisterClientAsync(webPort);
        await StrictOidc.ConfigureAsync(clientId, accessTokenTtl: 4);
        var settings = StrictOidc.Settings(clientId, secret, webPort, tenant);
        settings["MailGrpc:Tokens:RefreshMargin"] = "00:00:01";
        settings["Logging:LogLevel:Default"] = "Trace";
        settings["Logging:LogLevel:Microsoft"] = "Trace";
        settings["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace";
        settings["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "Trace";
        settings["Logging:LogLevel:System"] = "Trace";
        settings["Logging:Console:LogLevel:Default"] = "Trace";
        settings["Logging:Console:LogLevel:Microsoft.AspNetCore.Hosting"] = "Trace";
        settings["Logging:Console:FormatterOptions:IncludeScopes"] = "true";
        await using var server = await ServerProcess.StartAsync(settings);
        var secrets = new List<string> { secret!, tenant.ApiKey, OAuthRig.EncryptionKey };
        var auth = server.Authorization(tenant.ApiKey);
        var mailboxes = server.Mailboxes(tenant.ApiKey);

        // 1. Code flow: the browser lands on the HTTP callback with code, state and iss in the query.
        var user = StrictOidc.NewUser("trace");
        var id = (await mailboxes.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = StrictOidc.Mailbox(user) })).Mailbox.MailboxId;
        var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var stopped = await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl, "--stop-at", StrictOidc.RedirectUri(webPort));
        var query = System.Web.HttpUtility.ParseQueryString(new Uri(stopped.Url).Query);
        secrets.Add(query["code"]!);
        secrets.Add(query["state"]!);
        Assert.Equal("Mailbox connected", (await StrictOidc.BrowserAsync("open", stopped.Url)).Title);
        Assert.Equal("Already done", (await StrictOidc.BrowserAsync("open", stopped.Url)).Title);

        // 2. Refreshes with rotation (two expiries), each followed by a POP3 login with the new token.
        for (var i = 0; i < 2; i++)
        {
            var expires = (await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id })).Status.AccessTokenExpireTime.ToDateTimeOffset();
            await Until.PassedAsync(expires.AddSeconds(-1));

            await server.Messages(tenant.ApiKey).ListMessagesAsync(new ListMessagesRequest { MailboxId = id });
        }

        Assert.Equal(2, StrictOidc.Count(await StrictOidc.StatsAsync(clientId), "grants", "refresh_token", "ok"));

        // 3. Device flow, approved by the right account.
        var deviceUser = StrictOidc.NewUser("tracedev");
        var deviceId = (await mailboxes.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = StrictOidc.Mailbox(deviceUser) })).Mailbox.MailboxId;
        using (var call = auth.StartDeviceAuthorization(new StartDeviceAuthorizationRequest { MailboxId = deviceId }))
        {
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            await StrictOidc.BrowserAsync("device", call.ResponseStream.Current.Prompt.VerificationUriComplete, "--login", deviceUser);
            Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
            Assert.Equal(MailboxState.Active, call.ResponseStream.Current.Completed.State);
        }

        // 4. A consent by another account (refused; its grant revoked), through the HTTP callback.
        var other = (await mailboxes.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = StrictOidc.Mailbox(StrictOidc.NewUser("traceo")) })).Mailbox.MailboxId;
        var begunOther = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = other });
        Assert.Equal("Wrong account", (await StrictOidc.BrowserAsync("authorize", begunOther.AuthorizationUrl, "--login", StrictOidc.NewUser("mallory"))).Title);

        // 5. Delete with revocation.
        Assert.True((await mailboxes.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id })).RevokedAtProvider);

        var output = server.Output;
        // The framework does log at Trace (so the check below means something).
        Assert.Contains("trce: Microsoft.AspNetCore.", output, StringComparison.Ordinal);
        Assert.Contains("MailGrpc.Server.Authorization", output, StringComparison.Ordinal);
        foreach (var s in secrets)
        {
            Assert.DoesNotContain(s, output, StringComparison.Ordinal);
        }

        // Codes, tokens, device codes and states of the provider and MailGrpc are 43 base64url characters.
        var lookalikes = Token43().Matches(output).Select(m => m.Value).Distinct().ToList();
        Assert.True(lookalikes.Count == 0, "token-like strings in the log: " + string.Join(", ", lookalikes.Take(5)));
    }

    [GeneratedRegex("(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")]
    private static partial Regex Token43();
}
