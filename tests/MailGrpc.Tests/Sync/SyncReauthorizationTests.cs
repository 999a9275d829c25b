using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MailGrpc.Server.Events;
using MailGrpc.Server.Sync;
using MailGrpc.Tests.Authorization.Strict;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Sync;

/// <summary>
/// Issue #13, "a REAUTHORIZATION_REQUIRED event when a grant is revoked at the provider": an OAuth mailbox on the rig's
/// strict OpenID provider (node-oidc-provider), authorized in headless chromium, synced by a real server process. The
/// person then revokes the app's access at the provider (the rig's admin route, which uses the library's own grant and
/// token revocation). Either everything is revoked — the next poll's login is refused (the access token introspects
/// inactive) and the one refresh gets invalid_grant — or only the refresh tokens (as Entra's "revoke sessions"), with
/// short-lived access tokens: polls go on until the token is due, then the refresh gets invalid_grant. Both times the
/// tenant's feed gets <c>mailbox.state_changed</c> REAUTHORIZATION_REQUIRED with reason INVALID_GRANT — once, the provider
/// is not asked again — and ACTIVE again after a new consent, after which polls work.
/// Its own collection (the default), provider client, server process, tenant and account per case.
/// </summary>
public sealed class SyncReauthorizationTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_grant_revoked_at_the_provider_appends_REAUTHORIZATION_REQUIRED_once_and_a_new_consent_ACTIVE_again(bool refreshTokensOnly)
    {
        var tenant = TestTenant.Create("syncrevoke");
        var schedule = SyncRig.NewSchedule();
        var webPort = StrictOidc.FreePort();
        var (clientId, secret) = await StrictOidc.RegisterClientAsync(webPort);
        var settings = StrictOidc.Settings(clientId, secret, webPort, tenant);
        settings["MailGrpc:Sync:Enabled"] = "true";
        settings["MailGrpc:Sync:Schedule"] = schedule;
        settings["MailGrpc:Sync:MinInterval"] = "00:00:01";
        settings["MailGrpc:Sync:DefaultInterval"] = "00:00:01";
        settings["MailGrpc:Sync:MaxBackoff"] = "00:00:02";
        settings["MailGrpc:Sync:IdleWait"] = "00:00:00.100";
        settings["MailGrpc:Sync:Shards"] = "4";
        if (refreshTokensOnly)
        {
            // Access tokens live 6 s and are refreshed 1 s before they end: the revoked refresh token is presented soon.
            await StrictOidc.ConfigureAsync(clientId, accessTokenTtl: 6);
            settings["MailGrpc:Tokens:RefreshMargin"] = "00:00:01";
        }

        var redis = TestRedis.Connection;
        Task<IReadOnlyList<FeedEvent>> Feed() => SyncRig.ReadFeedAsync(redis, tenant.Name);

        try
        {
            await using var server = await ServerProcess.StartAsync(settings, TimeSpan.FromSeconds(120));
            var user = StrictOidc.NewUser("revoke");
            var id = (await server.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest { Mailbox = StrictOidc.Mailbox(user) })).Mailbox.MailboxId;
            var auth = server.Authorization(tenant.ApiKey);
            var begun = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
            Assert.Equal("Mailbox connected", (await StrictOidc.BrowserAsync("authorize", begun.AuthorizationUrl)).Title);

            // ACTIVE in the feed, and the engine polls the mailbox with the granted token (logins introspected at the provider).
            await Eventually.WaitAsync(async () => StateChanges(await Feed(), id).Any(e => State(e) == "ACTIVE"), TimeSpan.FromSeconds(30), "mailbox.state_changed ACTIVE");
            await Eventually.WaitAsync(async () => await OkPollsAsync(server) >= 2, TimeSpan.FromSeconds(60), "two successful polls");

            // The person removes the app's access at the provider: the grant and every token issued under it, or (Entra's
            // "revoke sessions") its refresh tokens.
            using (var revoke = await StrictOidc.Http.PostAsJsonAsync("__rig/revoke-grants", new JsonObject { ["account_id"] = user, ["client_id"] = clientId, ["refresh_tokens_only"] = refreshTokensOnly }))
            {
                revoke.EnsureSuccessStatusCode();
                Assert.Equal(1, (await revoke.Content.ReadFromJsonAsync<JsonObject>())!["revoked"]!.GetValue<int>());
            }

            // The next poll (everything revoked: its login is refused), or the first one whose token is due (refresh tokens
            // only): one refresh, refused with invalid_grant; the state change in the feed.
            var changed = await Eventually.ValueAsync(
                async () => StateChanges(await Feed(), id).FirstOrDefault(e => State(e) == "REAUTHORIZATION_REQUIRED"),
                TimeSpan.FromSeconds(60),
                "mailbox.state_changed REAUTHORIZATION_REQUIRED");
            Assert.Equal(id, changed.Data.GetProperty("mailbox_id").GetString());
            Assert.Equal("ACTIVE", changed.Data.GetProperty("previous_state").GetString());
            Assert.Equal("INVALID_GRANT", changed.Data.GetProperty("reason").GetString());

            if (!refreshTokensOnly)
            {
                // The revoked access token was refused at login (Dovecot introspects it at the provider), which set off the refresh.
                Assert.Contains($"of mailbox {id}; renewing once", server.Output, StringComparison.Ordinal);
            }

            // The provider's own answer is kept on the mailbox; it was asked once.
            var status = (await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id })).Status;
            Assert.Equal(MailboxState.ReauthorizationRequired, status.State);
            Assert.Equal("INVALID_GRANT", status.LastErrorReason);
            Assert.Contains("invalid_grant", status.LastErrorMessage, StringComparison.Ordinal);
            Assert.Equal(1, StrictOidc.Count(await StrictOidc.StatsAsync(clientId), "grants", "refresh_token", "errors", "invalid_grant"));

            // The poll that found it failed with that reason (once: the mailbox is not polled until it is authorized again).
            var failing = await Eventually.ValueAsync(
                async () => (await Feed()).FirstOrDefault(e => e.Type == MailEventTypes.MailboxSyncFailing && e.MailboxId == id),
                TimeSpan.FromSeconds(30),
                "mailbox.sync_failing");
            Assert.Equal("REAUTHORIZATION_REQUIRED", failing.Data.GetProperty("reason").GetString());

            // A new consent: ACTIVE again, and the next poll works (sync_recovered).
            var again = await auth.BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
            Assert.Equal("Mailbox connected", (await StrictOidc.BrowserAsync("authorize", again.AuthorizationUrl)).Title);
            var active = await Eventually.ValueAsync(
                async () => StateChanges(await Feed(), id).FirstOrDefault(e => State(e) == "ACTIVE" && e.Data.GetProperty("previous_state").GetString() == "REAUTHORIZATION_REQUIRED"),
                TimeSpan.FromSeconds(30),
                "mailbox.state_changed ACTIVE after REAUTHORIZATION_REQUIRED");
            Assert.Equal(string.Empty, active.Data.GetProperty("reason").GetString() ?? string.Empty);
            await Eventually.WaitAsync(
                async () => (await Feed()).Any(e => e.Type == MailEventTypes.MailboxSyncRecovered && e.MailboxId == id),
                TimeSpan.FromSeconds(60),
                "mailbox.sync_recovered after the new consent");

            // Over the whole run: one REAUTHORIZATION_REQUIRED, and the revoked grant was presented to the provider once.
            var feed = await Feed();
            Assert.Single(StateChanges(feed, id), e => State(e) == "REAUTHORIZATION_REQUIRED");
            Assert.Single(feed, e => e.Type == MailEventTypes.MailboxSyncFailing && e.MailboxId == id);
            Assert.Equal(1, StrictOidc.Count(await StrictOidc.StatsAsync(clientId), "grants", "refresh_token", "errors", "invalid_grant"));
            Assert.Equal(MailboxState.Active, (await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id })).Status.State);
        }
        finally
        {
            foreach (var shard in Enumerable.Range(0, 4))
            {
                await redis.GetDatabase().KeyDeleteAsync(SyncKeys.Due(schedule, shard));
            }

            await redis.GetDatabase().KeyDeleteAsync(EventLogKeys.Stream(tenant.Name));
        }
    }

    private static FeedEvent[] StateChanges(IReadOnlyList<FeedEvent> feed, string mailboxId) =>
        feed.Where(e => e.Type == MailEventTypes.MailboxStateChanged && e.MailboxId == mailboxId).ToArray();

    private static string? State(FeedEvent e) => e.Data.GetProperty("state").GetString();

    /// <summary>The process's successful sync polls (its Prometheus endpoint); it polls only this test's schedule.</summary>
    private static async Task<long> OkPollsAsync(ServerProcess server)
    {
        using var http = new HttpClient();
        var scrape = await http.GetStringAsync(new Uri($"http://127.0.0.1:{server.MetricsPort}/metrics"));
        var match = System.Text.RegularExpressions.Regex.Match(scrape, @"^mailgrpc_sync_polls_total\{[^}]*outcome=""ok""[^}]*\} (?<value>[0-9.eE+]+)", System.Text.RegularExpressions.RegexOptions.Multiline);
        return match.Success ? (long)double.Parse(match.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }
}
