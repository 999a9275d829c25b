using MailGrpc.Server.Authorization;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Pop3;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MailGrpc.Tests.Pop3Replay;

/// <summary>
/// The server's own POP3 session layer (<see cref="Pop3SessionFactory"/> from the server's DI: SSRF guard, TCP, MailKit,
/// login, classification, one renewal) against the recorded dialogues: which refusals renew the credential, which
/// become a retryable or a permanent status, and that a renewal really logs in with the renewed credential (the strict
/// replayer demands its exact bytes). Embedded store, no rig.
/// </summary>
[Trait("Layer", "Fast")]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the host through IAsyncLifetime.DisposeAsync.")]
public sealed class Pop3SessionReplayTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly DictionaryCredentials _credentials = new();
    private MailGrpcTestHost _host = null!;

    public Task InitializeAsync()
    {
        var settings = new Dictionary<string, string?>
        {
            ["MailGrpc:Redis:Configuration"] = string.Empty,
            ["MailGrpc:Encryption:Keys:k1"] = Convert.ToBase64String(new byte[32].Select((_, i) => (byte)(i + 3)).ToArray()),
            ["MailGrpc:Encryption:ActiveKeyId"] = "k1",
            ["MailGrpc:Network:AllowPrivateAddresses"] = "true",
        };
        _host = new MailGrpcTestHost(settings, services =>
        {
            services.RemoveAll<IMailboxCredentials>();
            services.AddSingleton<IMailboxCredentials>(_credentials);
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private Pop3SessionFactory Factory => _host.Services.GetRequiredService<Pop3SessionFactory>();

    private static MailboxRecord Mailbox(Pop3ReplayServer server, MailboxProvider provider, bool password, string user) => new()
    {
        Tenant = "replay",
        Id = "m-" + Guid.NewGuid().ToString("N")[..12],
        Username = user,
        Provider = provider,
        Host = "127.0.0.1",
        Port = server.Port,
        Security = Pop3Security.None,
        AuthKind = password ? MailboxAuthKind.Password : MailboxAuthKind.OAuth,
        Mechanism = OAuthMechanism.Xoauth2,
    };

    [Fact]
    public async Task A_password_mailbox_on_dovecot_logs_in_and_is_handed_over_without_quit()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var transcript = Pop3Transcript.Load("dovecot-session.txt", new Dictionary<string, string> { ["plain"] = Pop3ClientReplayTests.PlainResponse("replay@rig.test", "replay-password") })
            .CutBefore("UIDL", string.Empty);
        await using var server = new Pop3ReplayServer(transcript);
        var mailbox = Mailbox(server, MailboxProvider.Generic, password: true, "replay@rig.test");
        _credentials.Current[mailbox.Id] = new Pop3Credential(Pop3CredentialKind.Password, "replay@rig.test", "replay-password", null);

        var client = await Factory.ConnectAndLoginAsync(mailbox, cts.Token);
        Assert.True(client.IsAuthenticated);
        Assert.Equal(2, client.Count);
        client.Dispose(); // no QUIT: the transcript ends after STAT, so a QUIT would fail the replay

        Assert.Equal(0, _credentials.RenewCalls);
        await server.VerifyAsync();
    }

    [Theory]
    [InlineData("-ERR [IN-USE] Mailbox is locked by another POP3 session.", "MAILBOX_BUSY", "30")]
    [InlineData("-ERR [SYS/TEMP] Temporary authentication failure.", "POP3_SERVER_UNAVAILABLE", "60")]
    public async Task A_busy_or_temporarily_failing_dovecot_is_retryable_and_the_credential_is_not_renewed(string reply, string reason, string retryAfter)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await using var server = new Pop3ReplayServer(Pop3Transcript.Load("dovecot-refusals.txt", new Dictionary<string, string>
        {
            ["plain"] = Pop3ClientReplayTests.PlainResponse("replay@rig.test", "replay-password"),
            ["reply"] = reply,
        }));
        var mailbox = Mailbox(server, MailboxProvider.Generic, password: true, "replay@rig.test");
        _credentials.Current[mailbox.Id] = new Pop3Credential(Pop3CredentialKind.Password, "replay@rig.test", "replay-password", null);

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Factory.ConnectAndLoginAsync(mailbox, cts.Token));
        Assert.Equal(ErrorKind.Unavailable, error.Kind);
        Assert.Equal(reason, error.Reason);
        Assert.Equal(reply, error.Metadata["server_reply"]);
        Assert.Equal(retryAfter, error.Metadata["retry_after_seconds"]);
        Assert.DoesNotContain("replay-password", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _credentials.RenewCalls);
        await server.VerifyAsync();
    }

    [Fact]
    public async Task A_refused_gmail_token_is_renewed_once_and_the_renewed_token_logs_in()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var challenge = Pop3ClientReplayTests.Base64("""{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}""");
        await using var server = new Pop3ReplayServer(
            Pop3ClientReplayTests.Gmail("ya29.old", $"S: + {challenge}\nC:\nS: -ERR [AUTH] Invalid credentials"),
            Pop3ClientReplayTests.Gmail("ya29.new", "S: +OK Welcome.\nC: CAPA\nS: +OK Capability list follows\nS: UIDL\nS: PIPELINING\nS: .\nC: STAT\nS: +OK 3 3000"));
        var mailbox = Mailbox(server, MailboxProvider.Google, password: false, "someone@gmail.com");
        _credentials.Current[mailbox.Id] = new Pop3Credential(Pop3CredentialKind.AccessToken, "someone@gmail.com", "ya29.old", null);
        _credentials.Renewals[mailbox.Id] = new Pop3Credential(Pop3CredentialKind.AccessToken, "someone@gmail.com", "ya29.new", null);

        var client = await Factory.ConnectAndLoginAsync(mailbox, cts.Token);
        Assert.Equal(3, client.Count);
        client.Dispose();

        Assert.Equal(1, _credentials.RenewCalls);
        Assert.Equal(0, _credentials.GiveUps);
        Assert.Equal(2, server.Accepted);
        await server.VerifyAsync();
    }

    [Fact]
    public async Task A_gmail_token_refused_again_after_the_renewal_hands_over_to_the_token_layer()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var challenge = Pop3ClientReplayTests.Base64("""{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}""");
        var refused = $"S: + {challenge}\nC:\nS: -ERR [AUTH] Invalid credentials";
        await using var server = new Pop3ReplayServer(Pop3ClientReplayTests.Gmail("ya29.old", refused), Pop3ClientReplayTests.Gmail("ya29.new", refused));
        var mailbox = Mailbox(server, MailboxProvider.Google, password: false, "someone@gmail.com");
        _credentials.Current[mailbox.Id] = new Pop3Credential(Pop3CredentialKind.AccessToken, "someone@gmail.com", "ya29.old", null);
        _credentials.Renewals[mailbox.Id] = new Pop3Credential(Pop3CredentialKind.AccessToken, "someone@gmail.com", "ya29.new", null);

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Factory.ConnectAndLoginAsync(mailbox, cts.Token));
        Assert.Equal("REAUTHORIZATION_REQUIRED", error.Reason);
        Assert.Equal("POP3_CREDENTIAL_REFUSED", error.Metadata["cause"]);
        Assert.Contains("-ERR [AUTH] Invalid credentials", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ya29.", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, _credentials.RenewCalls);
        Assert.Equal(1, _credentials.GiveUps);
        await server.VerifyAsync();
    }

    [Fact]
    public async Task Exchange_refusing_every_password_is_permanent_and_not_renewed()
    {
        using var cts = new CancellationTokenSource(Timeout);
        const string User = "shared@contoso.onmicrosoft.com";
        await using var server = new Pop3ReplayServer(Pop3ClientReplayTests.Exchange(
            "PLAIN", Pop3ClientReplayTests.PlainResponse(User, "an-old-password"), "S: -ERR Logon failure: unknown user name or bad password."));
        var mailbox = Mailbox(server, MailboxProvider.Microsoft, password: true, User);
        _credentials.Current[mailbox.Id] = new Pop3Credential(Pop3CredentialKind.Password, User, "an-old-password", null);

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Factory.ConnectAndLoginAsync(mailbox, cts.Token));
        Assert.Equal(ErrorKind.FailedPrecondition, error.Kind);
        Assert.Equal("POP3_BASIC_AUTH_DISABLED", error.Reason);
        Assert.Equal(0, _credentials.RenewCalls);
        await server.VerifyAsync();
    }
}
