using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using System.Web;
using MailGrpc.Tests.Infrastructure;
using MailKit;
using MailKit.Net.Pop3;
using MailKit.Security;

namespace MailGrpc.Tests.Rig;

/// <summary>
/// Shows that the local rig behaves like the real thing MailGrpc will meet: tokens from a real OAuth server open a
/// real Dovecot mailbox over TLS, and every kind of bad token, password or grant is refused the way a provider
/// refuses it. Each test uses its own user (and, when it changes OAuth settings, its own client), so tests of
/// other classes can share the rig.
/// </summary>
[Collection("rig")]
public sealed class RigTests(RigEnvironment rig)
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(90);
    private static readonly Uri Callback = new("http://127.0.0.1:53682/oauth/callback");

    [Fact]
    public async Task Xoauth2_with_a_password_grant_token_reads_the_seeded_message_byte_for_byte_over_implicit_tls()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("xoauth2");
        var mime = SampleMessage();
        rig.SeedMessage(user, mime);

        var grant = await rig.PasswordGrantAsync(user, cancellationToken: ct);
        Assert.NotNull(grant.RefreshToken);

        using var pop3 = await rig.ConnectPop3Async(SecureSocketOptions.SslOnConnect, ct);
        Assert.True(pop3.IsSecure);
        await pop3.AuthenticateAsync(new SaslMechanismOAuth2(user, grant.RequireAccessToken()), ct);
        Assert.Equal(1, pop3.Count);
        Assert.Equal(mime.Length, await pop3.GetMessageSizeAsync(0, ct));
        Assert.Equal(mime, await ReadMessageAsync(pop3, 0, ct));
        // pop3_uidl_format = %08Xu%08Xv
        Assert.Matches("^[0-9a-f]{16}$", await pop3.GetMessageUidAsync(0, ct));
        await pop3.DisconnectAsync(quit: true, ct);
    }

    [Fact]
    public async Task OAuthBearer_with_a_client_credentials_token_reads_the_message_over_starttls()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("bearer");
        var messages = rig.SeedMessages(user, count: 3, sizeBytes: 4096);

        // client_secret_post this time; the app identity names the mailbox through `username`.
        var grant = await rig.RequestTokenAsync(
            new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["username"] = user, ["scope"] = "pop" },
            rig.AppClientId,
            rig.AppClientSecret,
            secretInBody: true,
            ct);
        Assert.True(grant.IsSuccess, grant.Body.ToJsonString());
        Assert.Null(grant.RefreshToken);

        using var pop3 = await rig.ConnectPop3Async(SecureSocketOptions.StartTls, ct);
        Assert.True(pop3.IsSecure);
        await pop3.AuthenticateAsync(new SaslMechanismOAuthBearer(user, grant.RequireAccessToken()), ct);
        Assert.Equal(3, pop3.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            Assert.Equal(4096, await pop3.GetMessageSizeAsync(i, ct));
            Assert.Equal(messages[i], await ReadMessageAsync(pop3, i, ct));
        }

        await pop3.DisconnectAsync(quit: true, ct);
    }

    [Fact]
    public async Task An_expired_token_is_refused_while_a_fresh_one_for_the_same_user_is_accepted()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("expired");
        rig.EnsureMailbox(user);

        var expired = await rig.IssueTokenAsync(user, expiresInSeconds: -60, cancellationToken: ct);
        var fresh = await rig.IssueTokenAsync(user, expiresInSeconds: 300, cancellationToken: ct);

        await AssertLoginRefusedAsync(new SaslMechanismOAuth2(user, expired), ct);
        await AssertLoginAcceptedAsync(new SaslMechanismOAuth2(user, fresh), ct);
    }

    [Fact]
    public async Task A_token_signed_by_another_key_and_garbage_tokens_are_refused()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("forged");
        rig.EnsureMailbox(user);
        var genuine = (await rig.PasswordGrantAsync(user, cancellationToken: ct)).RequireAccessToken();

        // Same header (kid included) and claims as a genuine token, signed with a key the rig never saw.
        var parts = genuine.Split('.');
        using var otherKey = RSA.Create(2048);
        var signature = otherKey.SignData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var forged = parts[0] + "." + parts[1] + "." + Base64Url(signature);
        // The classic downgrade: the same claims with alg "none" and no signature.
        var unsigned = Base64Url(Encoding.UTF8.GetBytes("""{"alg":"none","typ":"JWT"}""")) + "." + parts[1] + ".";

        await AssertLoginRefusedAsync(new SaslMechanismOAuth2(user, forged), ct);
        await AssertLoginRefusedAsync(new SaslMechanismOAuth2(user, unsigned), ct);
        await AssertLoginRefusedAsync(new SaslMechanismOAuthBearer(user, "not-a-token"), ct);
        await AssertLoginAcceptedAsync(new SaslMechanismOAuth2(user, genuine), ct);
    }

    [Fact]
    public async Task A_revoked_token_is_refused_at_the_next_login()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("revoked");
        rig.EnsureMailbox(user);
        var token = (await rig.PasswordGrantAsync(user, cancellationToken: ct)).RequireAccessToken();
        await AssertLoginAcceptedAsync(new SaslMechanismOAuth2(user, token), ct);

        var revocation = await rig.PostFormAsync(
            rig.RevocationEndpoint,
            new Dictionary<string, string> { ["token"] = token, ["token_type_hint"] = "access_token" },
            rig.ClientId,
            rig.ClientSecret,
            cancellationToken: ct);
        Assert.Equal(HttpStatusCode.OK, revocation.Status);

        await AssertLoginRefusedAsync(new SaslMechanismOAuth2(user, token), ct);
    }

    [Fact]
    public async Task App_password_plain_login_works_a_wrong_password_is_refused_and_a_changed_password_applies_at_once()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("plain");
        var mime = SampleMessage();
        rig.SeedMessage(user, mime);
        rig.AddPasswordUser(user, "first-app-password");

        using (var pop3 = await rig.ConnectPop3Async(SecureSocketOptions.StartTls, ct))
        {
            await pop3.AuthenticateAsync(new SaslMechanismPlain(user, "first-app-password"), ct);
            Assert.Equal(mime, await ReadMessageAsync(pop3, 0, ct));
            await pop3.DisconnectAsync(quit: true, ct);
        }

        using (var pop3 = await rig.ConnectPop3Async(SecureSocketOptions.StartTls, ct))
        {
            await Assert.ThrowsAsync<AuthenticationException>(() => pop3.AuthenticateAsync(new SaslMechanismPlain(user, "wrong-app-password"), ct));
        }

        // Same length, same second: the writer moves the mtime forward and waits until Dovecot accepts the new password.
        rig.AddPasswordUser(user, "second-app-password");
        using (var pop3 = await rig.ConnectPop3Async(SecureSocketOptions.StartTls, ct))
        {
            await Assert.ThrowsAsync<AuthenticationException>(() => pop3.AuthenticateAsync(new SaslMechanismPlain(user, "first-app-password"), ct));
        }

        await AssertLoginAcceptedAsync(new SaslMechanismLogin(user, "second-app-password"), ct);
    }

    [Fact]
    public async Task Under_rotation_a_refresh_token_is_single_use_and_replaying_it_revokes_the_grant()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("rotation");
        rig.EnsureMailbox(user);
        var client = await rig.CreateClientAsync(new JsonObject { ["rotateRefreshTokens"] = true }, cancellationToken: ct);

        var first = await rig.PasswordGrantAsync(user, client.ClientId, client.ClientSecret, cancellationToken: ct);
        var rt1 = first.RefreshToken ?? throw new InvalidOperationException("no refresh token: " + first.Body.ToJsonString());

        var second = await RefreshAsync(client, rt1, ct);
        Assert.True(second.IsSuccess, second.Body.ToJsonString());
        var rt2 = second.RefreshToken;
        Assert.NotNull(rt2);
        Assert.NotEqual(rt1, rt2);
        await AssertLoginAcceptedAsync(new SaslMechanismOAuth2(user, second.RequireAccessToken()), ct);

        var replay = await RefreshAsync(client, rt1, ct);
        Assert.Equal(HttpStatusCode.BadRequest, replay.Status);
        Assert.Equal("invalid_grant", replay.Error);

        // Reuse detection (OAuth 2.0 Security BCP): the replay ended the whole grant, newest tokens included.
        var afterReplay = await RefreshAsync(client, rt2, ct);
        Assert.Equal("invalid_grant", afterReplay.Error);
        await AssertLoginRefusedAsync(new SaslMechanismOAuth2(user, second.RequireAccessToken()), ct);

        var stats = await rig.GetStatsAsync(client.ClientId, ct);
        Assert.Equal(1, stats["grants"]!["refresh_token"]!["ok"]!.GetValue<int>());
        Assert.Equal(2, stats["grants"]!["refresh_token"]!["errors"]!["invalid_grant"]!.GetValue<int>());
    }

    [Fact]
    public async Task The_wrong_name_port_presents_a_rig_signed_certificate_for_another_name()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        SslPolicyErrors? seen = null;
        byte[]? presented = null;
        using var pop3 = new Pop3Client
        {
            ServerCertificateValidationCallback = (sender, certificate, chain, errors) =>
            {
                seen = errors;
                presented = certificate?.GetRawCertData();
                return rig.ValidateServerCertificate(sender, certificate, chain, errors);
            },
        };

        await Assert.ThrowsAsync<SslHandshakeException>(() => pop3.ConnectAsync(rig.Pop3Host, rig.Pop3sWrongNamePort, SecureSocketOptions.SslOnConnect, ct));

        Assert.NotNull(seen);
        Assert.True(seen.Value.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch), seen.ToString());
        using var certificate = X509CertificateLoader.LoadCertificate(presented!);
        Assert.True(certificate.MatchesHostname(rig.WrongCertificateName));
        Assert.False(certificate.MatchesHostname("127.0.0.1"));
        // Only the name is wrong: the chain ends at the rig CA.
        Assert.True(rig.ValidateServerCertificate(null, certificate, null, SslPolicyErrors.None));
    }

    [Fact]
    public async Task Authorization_code_with_pkce_is_single_use_and_bound_to_the_verifier()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("authcode");
        rig.EnsureMailbox(user);
        using var browser = rig.CreateHttpClient(allowAutoRedirect: false);

        // A redirect URI the client did not register is refused without redirecting (RFC 6749 §4.1.2.1).
        using (var refused = await browser.GetAsync(AuthorizeUrl(user, "elsewhere", challenge: null, redirect: new Uri("https://attacker.example/cb")), ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        }

        var verifier = Base64Url(RandomNumberGenerator.GetBytes(32));
        var challenge = Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

        // A wrong verifier fails and burns the code.
        var code = await AuthorizeAsync(browser, user, challenge, ct);
        Assert.Equal("invalid_grant", (await RedeemAsync(code, Base64Url(RandomNumberGenerator.GetBytes(32)), ct)).Error);
        Assert.Equal("invalid_grant", (await RedeemAsync(code, verifier, ct)).Error);

        // A missing verifier fails when a challenge was given.
        code = await AuthorizeAsync(browser, user, challenge, ct);
        Assert.Equal("invalid_grant", (await RedeemAsync(code, verifier: null, ct)).Error);

        code = await AuthorizeAsync(browser, user, challenge, ct);
        var tokens = await RedeemAsync(code, verifier, ct);
        Assert.True(tokens.IsSuccess, tokens.Body.ToJsonString());
        Assert.NotNull(tokens.Body["id_token"]);
        // login_hint chose the user the token is for.
        await AssertLoginAcceptedAsync(new SaslMechanismOAuth2(user, tokens.RequireAccessToken()), ct);

        // A replayed code fails and (RFC 6749 §4.1.2) revokes what the code produced, refresh token included.
        Assert.Equal("invalid_grant", (await RedeemAsync(code, verifier, ct)).Error);
        var refresh = await rig.RequestTokenAsync(
            new Dictionary<string, string> { ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.RefreshToken! },
            rig.PublicClientId,
            clientSecret: null,
            cancellationToken: ct);
        Assert.Equal("invalid_grant", refresh.Error);
    }

    [Fact]
    public async Task Device_authorization_polls_pending_then_slow_down_then_succeeds_once_approved()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("device");
        rig.EnsureMailbox(user);
        var client = await rig.CreateClientAsync(new JsonObject { ["deviceInterval"] = 1, ["deviceSlowDownSeconds"] = 1 }, isPublic: true, cancellationToken: ct);

        var start = await StartDeviceAsync(client, ct);
        Assert.Equal(HttpStatusCode.OK, start.Status);
        var deviceCode = start.Body["device_code"]!.GetValue<string>();
        var userCode = start.Body["user_code"]!.GetValue<string>();
        Assert.Equal(new Uri(rig.OAuthIssuer, "/device"), new Uri(start.Body["verification_uri"]!.GetValue<string>()));
        Assert.Equal(1, start.Body["interval"]!.GetValue<int>());

        Assert.Equal("authorization_pending", (await PollDeviceAsync(client, deviceCode, ct)).Error);
        Assert.Equal("slow_down", (await PollDeviceAsync(client, deviceCode, ct)).Error);

        await rig.ApproveDeviceAsync(userCode, user, ct);
        // RFC 8628 §3.5 client pacing, the behaviour under test: a device client must wait the announced interval
        // (1 s, + 1 s for the slow_down) before it polls again; polling sooner is answered slow_down and resets the wait,
        // so no condition poll can replace this wait (the one wait on a clock kept in the tests, see docs/testing.md).
        var lastPoll = DateTimeOffset.UtcNow;
        await Eventually.WaitAsync(() => DateTimeOffset.UtcNow >= lastPoll + TimeSpan.FromSeconds(2.2), TimeSpan.FromSeconds(10), "the device flow's polling interval to pass", ct);
        var tokens = await PollDeviceAsync(client, deviceCode, ct);
        Assert.True(tokens.IsSuccess, tokens.Body.ToJsonString());
        Assert.Equal("invalid_grant", (await PollDeviceAsync(client, deviceCode, ct)).Error);
        await AssertLoginAcceptedAsync(new SaslMechanismOAuth2(user, tokens.RequireAccessToken()), ct);

        var denied = await StartDeviceAsync(client, ct);
        await rig.DenyDeviceAsync(denied.Body["user_code"]!.GetValue<string>(), ct);
        Assert.Equal("access_denied", (await PollDeviceAsync(client, denied.Body["device_code"]!.GetValue<string>(), ct)).Error);

        await rig.ConfigureAsync(new JsonObject { ["deviceCodeTtl"] = 1 }, client.ClientId, ct);
        var expiring = await StartDeviceAsync(client, ct);
        // The server checks expiry before the polling interval: poll until the 1 s code has expired.
        var expiringCode = expiring.Body["device_code"]!.GetValue<string>();
        string? error = null;
        await Eventually.WaitAsync(async () => (error = (await PollDeviceAsync(client, expiringCode, ct)).Error) is not ("authorization_pending" or "slow_down"), TimeSpan.FromSeconds(10), "the device code to expire", ct);
        Assert.Equal("expired_token", error);
    }

    [Fact]
    public async Task A_second_concurrent_session_on_one_mailbox_is_refused_with_in_use()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("inuse");
        rig.SeedMessage(user, SampleMessage());
        rig.AddPasswordUser(user, "in-use-password");
        var token = await rig.IssueTokenAsync(user, cancellationToken: ct);

        using var first = await rig.ConnectPop3Async(SecureSocketOptions.SslOnConnect, ct);
        await first.AuthenticateAsync(new SaslMechanismPlain(user, "in-use-password"), ct);

        // Dovecot waits 10 s for the session lock (compiled in), then answers the AUTH with -ERR [IN-USE]. MailKit
        // turns that into a bare AuthenticationException("Authentication failed.") — the same as for a wrong
        // password, and unlike a refused token (Pop3ProtocolException). Only the protocol log shows the code.
        using var transcript = new MemoryStream();
        using var second = await rig.ConnectPop3Async(SecureSocketOptions.SslOnConnect, new ProtocolLogger(transcript, leaveOpen: true), ct);
        var refused = await Assert.ThrowsAsync<AuthenticationException>(() => second.AuthenticateAsync(new SaslMechanismOAuth2(user, token), ct));
        Assert.DoesNotContain("IN-USE", refused.Message, StringComparison.Ordinal);
        Assert.Contains("-ERR [IN-USE] Mailbox is locked by another POP3 session.", Encoding.UTF8.GetString(transcript.ToArray()), StringComparison.Ordinal);

        Assert.Equal(1, first.Count);
        await first.DisconnectAsync(quit: true, ct);
    }

    [Fact]
    public async Task An_introspection_outage_is_a_temporary_failure_not_a_refused_token()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("sys-temp");
        rig.EnsureMailbox(user);
        // Scoped to a client of this test: introspection failures apply to that client's tokens only.
        var client = await rig.CreateClientAsync(new JsonObject { ["failIntrospection"] = "503", ["failIntrospectionCount"] = 1 }, cancellationToken: ct);
        var token = (await rig.PasswordGrantAsync(user, client.ClientId, client.ClientSecret, cancellationToken: ct)).RequireAccessToken();

        // Dovecot answers -ERR [SYS/TEMP]; MailKit again throws a bare AuthenticationException (not the
        // Pop3ProtocolException of a refused token), so only the protocol log tells "provider down" from "bad token".
        using var transcript = new MemoryStream();
        using (var pop3 = await rig.ConnectPop3Async(SecureSocketOptions.SslOnConnect, new ProtocolLogger(transcript, leaveOpen: true), ct))
        {
            await Assert.ThrowsAsync<AuthenticationException>(() => pop3.AuthenticateAsync(new SaslMechanismOAuth2(user, token), ct));
        }

        Assert.Contains("-ERR [SYS/TEMP]", Encoding.UTF8.GetString(transcript.ToArray()), StringComparison.Ordinal);

        // The outage is over (count 1): the same token works.
        await AssertLoginAcceptedAsync(new SaslMechanismOAuth2(user, token), ct);
    }

    [Fact]
    public async Task Injected_token_endpoint_outage_answers_503_with_retry_after_then_recovers()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var user = RigEnvironment.NewUser("outage");
        var client = await rig.CreateClientAsync(new JsonObject { ["failToken"] = "503", ["failTokenCount"] = 1 }, cancellationToken: ct);

        var outage = await rig.PasswordGrantAsync(user, client.ClientId, client.ClientSecret, cancellationToken: ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, outage.Status);
        Assert.Equal("temporarily_unavailable", outage.Error);
        Assert.Equal(TimeSpan.FromSeconds(1), outage.RetryAfter);

        var recovered = await rig.PasswordGrantAsync(user, client.ClientId, client.ClientSecret, cancellationToken: ct);
        Assert.True(recovered.IsSuccess, recovered.Body.ToJsonString());

        var stats = await rig.GetStatsAsync(client.ClientId, ct);
        Assert.Equal(1, stats["grants"]!["password"]!["errors"]!["injected"]!.GetValue<int>());
        Assert.Equal(1, stats["grants"]!["password"]!["ok"]!.GetValue<int>());
    }

    [Fact]
    public async Task Discovery_advertises_every_endpoint_and_access_tokens_are_rs256_jwts_of_the_published_key()
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var ct = cts.Token;
        var issuer = rig.OAuthIssuer.GetLeftPart(UriPartial.Authority);

        var discovery = JsonNode.Parse(await rig.Http.GetStringAsync(rig.DiscoveryDocument, ct))!;
        Assert.Equal(issuer, discovery["issuer"]!.GetValue<string>());
        foreach (var (key, path) in new[]
                 {
                     ("token_endpoint", "/token"), ("authorization_endpoint", "/authorize"), ("jwks_uri", "/jwks"),
                     ("introspection_endpoint", "/introspect"), ("revocation_endpoint", "/revoke"),
                     ("device_authorization_endpoint", "/device_authorization"), ("userinfo_endpoint", "/userinfo"),
                 })
        {
            Assert.Equal(issuer + path, discovery[key]?.GetValue<string>());
        }

        var grants = discovery["grant_types_supported"]!.AsArray().Select(g => g!.GetValue<string>()).ToList();
        Assert.Contains("urn:ietf:params:oauth:grant-type:device_code", grants);
        Assert.Contains("refresh_token", grants);

        var user = RigEnvironment.NewUser("jwt");
        var token = (await rig.PasswordGrantAsync(user, cancellationToken: ct)).RequireAccessToken();
        var header = JsonNode.Parse(Convert.FromBase64String(PadBase64(token.Split('.')[0])))!;
        var claims = JsonNode.Parse(Convert.FromBase64String(PadBase64(token.Split('.')[1])))!;
        Assert.Equal("RS256", header["alg"]!.GetValue<string>());
        Assert.Equal("JWT", header["typ"]!.GetValue<string>());
        Assert.Equal(issuer, claims["iss"]!.GetValue<string>());
        Assert.Equal(user, claims["email"]!.GetValue<string>());
        Assert.Equal(user, claims["sub"]!.GetValue<string>());
        Assert.NotNull(claims["scope"]);

        var jwks = JsonNode.Parse(await rig.Http.GetStringAsync(new Uri(rig.OAuthIssuer, "/jwks"), ct))!;
        Assert.Contains(header["kid"]!.GetValue<string>(), jwks["keys"]!.AsArray().Select(k => k!["kid"]!.GetValue<string>()));
    }

    // ---- helpers ----------------------------------------------------------------------------------------

    private async Task AssertLoginAcceptedAsync(SaslMechanism mechanism, CancellationToken ct)
    {
        using var pop3 = await rig.ConnectPop3Async(SecureSocketOptions.SslOnConnect, ct);
        await pop3.AuthenticateAsync(mechanism, ct);
        Assert.True(pop3.IsAuthenticated);
        await pop3.DisconnectAsync(quit: true, ct);
    }

    /// <summary>
    /// Dovecot answers a refused token with a "+ &lt;base64 JSON error&gt;" continuation; MailKit then throws
    /// Pop3ProtocolException (not AuthenticationException) and leaves the connection unusable — see FIELD-NOTES.
    /// </summary>
    private async Task AssertLoginRefusedAsync(SaslMechanism mechanism, CancellationToken ct)
    {
        using var pop3 = await rig.ConnectPop3Async(SecureSocketOptions.SslOnConnect, ct);
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => pop3.AuthenticateAsync(mechanism, ct));
        Assert.True(refused is Pop3ProtocolException or AuthenticationException, $"{refused.GetType()}: {refused.Message}");
        Assert.False(pop3.IsAuthenticated);
    }

    private static async Task<byte[]> ReadMessageAsync(Pop3Client pop3, int index, CancellationToken ct)
    {
        using var stream = await pop3.GetStreamAsync(index, false, ct);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, ct);
        return copy.ToArray();
    }

    /// <summary>CRLF line ends, a dot-stuffed line, 8-bit text: what POP3 must give back unchanged.</summary>
    private static byte[] SampleMessage() => Encoding.UTF8.GetBytes(
        "Message-ID: <" + Guid.NewGuid().ToString("N") + "@rig.test>\r\n" +
        "From: Sender <sender@rig.test>\r\n" +
        "To: Receiver <receiver@rig.test>\r\n" +
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Transfer-Encoding: 8bit\r\n" +
        "\r\n" +
        "Grüße aus dem Rig.\r\n" +
        ".A line that starts with a dot.\r\n" +
        "..And one with two.\r\n" +
        "\r\n" +
        "-- \r\n" +
        "The end.\r\n");

    private Task<RigTokenResponse> RefreshAsync(RigClient client, string refreshToken, CancellationToken ct) =>
        rig.RequestTokenAsync(
            new Dictionary<string, string> { ["grant_type"] = "refresh_token", ["refresh_token"] = refreshToken },
            client.ClientId,
            client.ClientSecret,
            cancellationToken: ct);

    private Uri AuthorizeUrl(string user, string state, string? challenge, Uri? redirect = null)
    {
        var query = HttpUtility.ParseQueryString(string.Empty);
        query["response_type"] = "code";
        query["client_id"] = rig.PublicClientId;
        query["redirect_uri"] = (redirect ?? Callback).ToString();
        query["scope"] = "openid email offline_access";
        query["state"] = state;
        query["login_hint"] = user;
        if (challenge is not null)
        {
            query["code_challenge"] = challenge;
            query["code_challenge_method"] = "S256";
        }

        return new UriBuilder(rig.AuthorizeEndpoint) { Query = query.ToString() }.Uri;
    }

    private async Task<string> AuthorizeAsync(HttpClient browser, string user, string challenge, CancellationToken ct)
    {
        var state = Guid.NewGuid().ToString("N");
        using var response = await browser.GetAsync(AuthorizeUrl(user, state, challenge), ct);
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        var location = response.Headers.Location!;
        Assert.Equal(Callback.GetLeftPart(UriPartial.Path), location.GetLeftPart(UriPartial.Path));
        var query = HttpUtility.ParseQueryString(location.Query);
        Assert.Equal(state, query["state"]);
        return query["code"] ?? throw new InvalidOperationException("no code in " + location);
    }

    private Task<RigTokenResponse> RedeemAsync(string code, string? verifier, CancellationToken ct)
    {
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["code"] = code,
            ["redirect_uri"] = Callback.ToString(),
        };
        if (verifier is not null)
        {
            form["code_verifier"] = verifier;
        }

        return rig.RequestTokenAsync(form, rig.PublicClientId, clientSecret: null, cancellationToken: ct);
    }

    private Task<RigTokenResponse> StartDeviceAsync(RigClient client, CancellationToken ct) =>
        rig.PostFormAsync(
            rig.DeviceAuthorizationEndpoint,
            new Dictionary<string, string> { ["scope"] = "openid email offline_access" },
            client.ClientId,
            client.ClientSecret,
            cancellationToken: ct);

    private Task<RigTokenResponse> PollDeviceAsync(RigClient client, string deviceCode, CancellationToken ct) =>
        rig.RequestTokenAsync(
            new Dictionary<string, string> { ["grant_type"] = "urn:ietf:params:oauth:grant-type:device_code", ["device_code"] = deviceCode },
            client.ClientId,
            client.ClientSecret,
            cancellationToken: ct);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string PadBase64(string base64Url)
    {
        var s = base64Url.Replace('-', '+').Replace('_', '/');
        return s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '=');
    }
}
