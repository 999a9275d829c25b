using System.Text;
using MailGrpc.Server.Pop3;
using Provider = MailGrpc.Server.Mailboxes.MailboxProvider;
using MailKit.Net.Pop3;
using MailKit.Security;

namespace MailGrpc.Tests.Pop3Replay;

/// <summary>
/// MailKit's real <see cref="Pop3Client"/>, with the server's own SASL mechanism and login-reply recorder, against recorded
/// Dovecot, Gmail-like and Exchange-like dialogues (Transcripts/): what the adapter reads from each server, and what the
/// login classifier makes of each refusal. The replayer fails on any command not in the transcript.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class Pop3ClientReplayTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    internal static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    internal static string PlainResponse(string user, string password) => Base64($"\0{user}\0{password}");

    internal static string XOAuth2Response(string user, string token) => Base64($"user={user}\u0001auth=Bearer {token}\u0001\u0001");

    private static async Task<Pop3Client> ConnectAsync(Pop3ReplayServer server, LoginReplyRecorder recorder, CancellationToken ct)
    {
        var client = new Pop3Client(recorder) { Timeout = 10_000 };
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, ct);
        return client;
    }

    [Fact]
    public async Task Dovecot_session_lists_uids_sizes_headers_and_a_message_as_recorded()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        await using var server = new Pop3ReplayServer(Pop3Transcript.Load("dovecot-session.txt", new Dictionary<string, string> { ["plain"] = PlainResponse("replay@rig.test", "replay-password") }));
        var recorder = new LoginReplyRecorder();
        using (var client = await ConnectAsync(server, recorder, ct))
        {
            Assert.Contains("PLAIN", client.AuthenticationMechanisms);
            Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.UIDL));
            await client.AuthenticateAsync(new SaslMechanismPlain("replay@rig.test", "replay-password"), ct);
            recorder.Stop();
            Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.Pipelining));
            Assert.Equal(2, client.Count);
            Assert.Equal(["000000016b15ff4d", "000000026b15ff4d"], await client.GetMessageUidsAsync(ct));
            Assert.Equal([106, 96], await client.GetMessageSizesAsync(ct));
            var headers = await client.GetMessageHeadersAsync(0, ct);
            Assert.Equal("one", headers["Subject"]);
            var message = await client.GetMessageAsync(1, ct);
            Assert.Equal("two", message.Subject);
            Assert.Equal("<two@example.org>", "<" + message.MessageId + ">");
            Assert.Equal("Second.", message.TextBody?.Trim());
            await client.DisconnectAsync(quit: true, ct);
        }

        Assert.Null(recorder.LastErrorLine);
        await server.VerifyAsync();
    }

    public static TheoryData<string, string, string, string> DovecotRefusals => new()
    {
        { "-ERR [AUTH] Authentication failed.", "Credential", "POP3_CREDENTIAL_REFUSED", "PASSWORD_REFUSED" },
        { "-ERR [IN-USE] Mailbox is locked by another POP3 session.", "Temporary", "MAILBOX_BUSY", LoginReplyClassifier.InUseHint },
        { "-ERR [SYS/TEMP] Temporary authentication failure.", "Temporary", "POP3_SERVER_UNAVAILABLE", LoginReplyClassifier.TemporaryHint },
    };

    [Theory]
    [MemberData(nameof(DovecotRefusals))]
    public async Task Dovecot_refusals_reach_the_classifier_with_their_response_code(string reply, string kind, string reason, string hintId)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        await using var server = new Pop3ReplayServer(Pop3Transcript.Load("dovecot-refusals.txt", new Dictionary<string, string>
        {
            ["plain"] = PlainResponse("replay@rig.test", "some-password"),
            ["reply"] = reply,
        }));
        var recorder = new LoginReplyRecorder();
        using (var client = await ConnectAsync(server, recorder, ct))
        {
            await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync(new SaslMechanismPlain("replay@rig.test", "some-password"), ct));
            Assert.False(client.IsAuthenticated);
        }

        // The recorder keeps the server's line (never the client's): that is all the classifier sees.
        Assert.Equal(reply, recorder.LastErrorLine);
        var (refusal, id) = LoginReplyClassifier.Classify(recorder.LastErrorLine, Provider.Generic, password: true);
        Assert.Equal(kind, refusal.Kind.ToString());
        Assert.Equal(reason, refusal.Reason);
        Assert.Equal(hintId, id);
        Assert.DoesNotContain("some-password", refusal.Explain, StringComparison.Ordinal);
        await server.VerifyAsync();
    }

    [Fact]
    public async Task Gmail_accepts_an_xoauth2_token_and_changes_its_capabilities_after_login()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        // After login, Gmail's CAPA adds PIPELINING and drops SASL (MailKit gmail/capa2.txt); then MailKit's STAT.
        const string Welcome = """
            S: +OK Welcome.
            C: CAPA
            S: +OK Capability list follows
            S: USER
            S: RESP-CODES
            S: EXPIRE 0
            S: LOGIN-DELAY 300
            S: TOP
            S: UIDL
            S: X-GOOGLE-RICO
            S: PIPELINING
            S: .
            C: STAT
            S: +OK 0 0
            """;
        await using var server = new Pop3ReplayServer(Gmail("ya29.replay-token", Welcome));
        var recorder = new LoginReplyRecorder();
        using (var client = await ConnectAsync(server, recorder, ct))
        {
            Assert.Equal(["PLAIN", "XOAUTH2"], client.AuthenticationMechanisms.Order(StringComparer.Ordinal));
            await client.AuthenticateAsync(new XOAuth2Mechanism("someone@gmail.com", "ya29.replay-token"), ct);
            Assert.True(client.IsAuthenticated);
            Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.Pipelining));
            Assert.Equal(0, client.Count);
        }

        Assert.Null(recorder.LastErrorLine);
        await server.VerifyAsync();
    }

    [Fact]
    public async Task Gmail_refused_token_error_challenge_is_answered_and_its_final_line_classified()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        // Gmail's XOAUTH2 error challenge (base64 JSON status), then, after the client's empty response, the final -ERR
        // (google/gmail-oauth2-tools #78, Webklex/php-imap #30, mailcore2 #704; RFC 4422 §3.6; tests/rig/README.md).
        var challenge = Base64("""{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}""");
        var refused = $"""
            S: + {challenge}
            C:
            S: -ERR [AUTH] Invalid credentials
            """;
        await using var server = new Pop3ReplayServer(Gmail("ya29.expired", refused));
        var recorder = new LoginReplyRecorder();
        using (var client = await ConnectAsync(server, recorder, ct))
        {
            var error = await Record.ExceptionAsync(() => client.AuthenticateAsync(new XOAuth2Mechanism("someone@gmail.com", "ya29.expired"), ct));
            Assert.True(error is AuthenticationException or Pop3ProtocolException, error?.ToString());
        }

        Assert.Equal("-ERR [AUTH] Invalid credentials", recorder.LastErrorLine);
        var (refusal, id) = LoginReplyClassifier.Classify(recorder.LastErrorLine, Provider.Google, password: false);
        Assert.Equal(LoginRefusalKind.Credential, refusal.Kind);
        Assert.Equal("POP3_CREDENTIAL_REFUSED", refusal.Reason);
        Assert.Equal(LoginReplyClassifier.GmailTokenHint, id);
        await server.VerifyAsync();
    }

    [Theory]
    [InlineData("-ERR [SYS/TEMP] Temporary system problem. Please try again later.", "Temporary", "POP3_SERVER_UNAVAILABLE")] // frappe/frappe #1133
    [InlineData("-ERR [SYS/PERM] Your account is not enabled for POP access. Please visit your Gmail settings page and enable your account for POP access.", "Permanent", "POP3_ACCESS_DISABLED")] // tests/rig/README.md
    [InlineData("-ERR [IN-USE] Mailbox in use. Please try again later.", "Temporary", "MAILBOX_BUSY")] // tests/rig/README.md
    public async Task Gmail_refusals_with_response_codes_are_not_credential_problems(string reply, string kind, string reason)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        await using var server = new Pop3ReplayServer(Gmail("ya29.fine", "S: " + reply));
        var recorder = new LoginReplyRecorder();
        using (var client = await ConnectAsync(server, recorder, ct))
        {
            await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync(new XOAuth2Mechanism("someone@gmail.com", "ya29.fine"), ct));
        }

        var (refusal, _) = LoginReplyClassifier.Classify(recorder.LastErrorLine, Provider.Google, password: false);
        Assert.Equal(kind, refusal.Kind.ToString());
        Assert.Equal(reason, refusal.Reason);
        Assert.Equal(reply, refusal.ToException().Metadata["server_reply"]);
        await server.VerifyAsync();
    }

    [Theory]
    [InlineData(false, "-ERR Authentication failure: unknown user name or bad password.", "Credential", "POP3_CREDENTIAL_REFUSED", LoginReplyClassifier.ExchangeTokenHint)]
    [InlineData(true, "-ERR Logon failure: unknown user name or bad password.", "Permanent", "POP3_BASIC_AUTH_DISABLED", LoginReplyClassifier.ExchangeBasicAuthOffHint)]
    public async Task Exchange_refusals_tell_a_refused_token_from_basic_auth_being_off(bool password, string reply, string kind, string reason, string hintId)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        const string User = "shared@contoso.onmicrosoft.com";
        var mechanism = password ? "PLAIN" : "XOAUTH2";
        var auth = password ? PlainResponse(User, "an-old-password") : XOAuth2Response(User, "eyJ0eXAiOi.replay");
        await using var server = new Pop3ReplayServer(Exchange(mechanism, auth, "S: " + reply));
        var recorder = new LoginReplyRecorder();
        using (var client = await ConnectAsync(server, recorder, ct))
        {
            // Exchange lists no PIPELINING and no RESP-CODES: MailKit must not pipeline.
            Assert.False(client.Capabilities.HasFlag(Pop3Capabilities.Pipelining));
            SaslMechanism sasl = password ? new SaslMechanismPlain(User, "an-old-password") : new XOAuth2Mechanism(User, "eyJ0eXAiOi.replay");
            await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync(sasl, ct));
        }

        var (refusal, id) = LoginReplyClassifier.Classify(recorder.LastErrorLine, Provider.Microsoft, password);
        Assert.Equal(kind, refusal.Kind.ToString());
        Assert.Equal(reason, refusal.Reason);
        Assert.Equal(hintId, id);
        await server.VerifyAsync();
    }

    [Fact]
    public async Task The_replayer_fails_on_a_command_the_transcript_does_not_have()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var ct = cts.Token;
        var server = new Pop3ReplayServer(Pop3Transcript.Load("dovecot-session.txt", new Dictionary<string, string> { ["plain"] = PlainResponse("replay@rig.test", "replay-password") }));
        await using (server)
        {
            using var client = await ConnectAsync(server, new LoginReplyRecorder(), ct);
            // AUTH LOGIN is not in the transcript (AUTH PLAIN is): the replayer records it and closes the connection.
            await Assert.ThrowsAnyAsync<Exception>(() => client.AuthenticateAsync(new SaslMechanismLogin("replay@rig.test", "replay-password"), ct));
            var failure = await Assert.ThrowsAnyAsync<Xunit.Sdk.XunitException>(server.VerifyAsync);
            Assert.Contains("the client sent 'AUTH LOGIN'; the transcript expects 'C: AUTH PLAIN'", failure.Message, StringComparison.Ordinal);
        }
    }

    internal static Pop3Transcript Gmail(string token, string outcome) => Pop3Transcript.Load("gmail-xoauth2.txt", new Dictionary<string, string>
    {
        ["auth"] = XOAuth2Response("someone@gmail.com", token),
        ["outcome"] = Unindent(outcome),
    });

    internal static Pop3Transcript Exchange(string mechanism, string auth, string outcome) => Pop3Transcript.Load("exchange-xoauth2.txt", new Dictionary<string, string>
    {
        ["mechanism"] = mechanism,
        ["auth"] = auth,
        ["outcome"] = Unindent(outcome),
    });

    private static string Unindent(string text) => string.Join('\n', text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').Select(l => l.TrimStart()));
}
