using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using MailKit.Net.Pop3;
using MailKit.Security;
using Google.Rpc;
using SaslMechanism = MailGrpc.V1.SaslMechanism;

namespace MailGrpc.Tests.Providers;

/// <summary>
/// Login refusals as Gmail, Exchange Online and Dovecot send them, through the real server (in-process, with the POP3
/// side real and the token layer replaced by <see cref="DictionaryCredentials"/>, which counts renewals): temporary ones
/// are UNAVAILABLE with their own reason and touch nothing; the rest carry the provider's hint.
/// </summary>
[Collection("personalities")]
public sealed class LoginRefusalTests(PersonalityRig fixture) : IAsyncDisposable
{
    // Lines as the providers send them (sources: tests/rig/README.md, "POP3 provider personalities").
    private const string InUse = "-ERR [IN-USE] Mailbox in use. Please try again later.";
    private const string SysTemp = "-ERR [SYS/TEMP] Temporary system problem. Please try again later.";
    private const string SysPerm = "-ERR [SYS/PERM] Your account is not enabled for POP access. Please visit your Gmail settings page and enable your account for POP access.";
    private const string AppPassword = "-ERR [AUTH] Application-specific password required: https://support.google.com/accounts/answer/185833";
    private const string WebLogin = "-ERR [AUTH] Web login required: https://support.google.com/mail/answer/78754";
    private const string ExchangeProtocolError = "-ERR Protocol error. Connection is closed. 10";

    private readonly MessagesHost _host = new(fixture.Rig);

    private PersonalityServer Personalities => fixture.Server;

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private async Task<(string Id, string User)> MailboxAsync(string personality, bool password, int messages = 2)
    {
        var user = Pop3Rig.NewUser(personality);
        var secret = "secret-" + Guid.NewGuid().ToString("N");
        await Personalities.AddUserAsync(personality, user, password: password ? secret : null, token: password ? null : secret);
        await Personalities.SeedAsync(personality, user, Enumerable.Range(0, messages).Select(i => Pop3Rig.MakeMessage(i, 3_000)));
        var id = "lr-" + Guid.NewGuid().ToString("N")[..10];
        await _host.Mailboxes.CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox
            {
                Username = user,
                Provider = personality == PersonalityServer.Gmail ? Provider.Google : Provider.Microsoft,
                Server = new ServerSettings { Host = "127.0.0.1", Port = Personalities.Port(personality), Security = Security.ImplicitTls },
                AuthMethod = password
                    ? new AuthMethod { Password = new PasswordAuth() }
                    : new AuthMethod { Oauth = new OAuthAuth { Client = "rig", Mechanism = SaslMechanism.Xoauth2 } },
            },
        });
        await _host.SetStateAsync(id, MailGrpc.Server.Mailboxes.MailboxState.Active);
        _host.Credentials.Current[id] = new Pop3Credential(password ? Pop3CredentialKind.Password : Pop3CredentialKind.AccessToken, user, secret, null);
        return (id, user);
    }

    private async Task<List<StreamedMessage>> StreamAsync(string id)
    {
        using var call = _host.Messages.StreamMessages(new StreamMessagesRequest { MailboxId = id });
        return await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame);
    }

    [Theory]
    [InlineData(PersonalityServer.Gmail, true, InUse, "MAILBOX_BUSY")]
    [InlineData(PersonalityServer.Gmail, false, InUse, "MAILBOX_BUSY")]
    [InlineData(PersonalityServer.Gmail, true, SysTemp, "POP3_SERVER_UNAVAILABLE")]
    [InlineData(PersonalityServer.Gmail, false, SysTemp, "POP3_SERVER_UNAVAILABLE")]
    [InlineData(PersonalityServer.Exchange, false, InUse, "MAILBOX_BUSY")]
    [InlineData(PersonalityServer.Exchange, false, SysTemp, "POP3_SERVER_UNAVAILABLE")]
    public async Task A_temporary_refusal_is_UNAVAILABLE_with_its_reason_and_leaves_mailbox_and_credential_alone(string personality, bool password, string line, string reason)
    {
        var (id, user) = await MailboxAsync(personality, password);
        await Personalities.RefuseAsync(personality, user, line);

        var error = await RpcAssert.FailsAsync(StatusCode.Unavailable, reason, () => StreamAsync(id));
        var info = error.GetRpcStatus()!.GetDetail<ErrorInfo>()!;
        Assert.True(int.Parse(info.Metadata["retry_after_seconds"], System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Equal(line, info.Metadata["server_reply"]);
        Assert.Contains("retry", error.Status.Detail, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, _host.Credentials.RenewCalls);
        Assert.Equal(0, _host.Credentials.GiveUps);
        Assert.Equal(MailboxState.Active, (await _host.Mailboxes.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox.State);
        Assert.Equal(1, (await Personalities.StateAsync(personality, user))["refusals"]!.GetValue<int>());

        // The same credential works as soon as the server does.
        await Personalities.RefuseAsync(personality, user, null);
        Assert.Equal(2, (await StreamAsync(id)).Count);
    }

    [Fact]
    public async Task Dovecot_IN_USE_at_login_is_MAILBOX_BUSY_without_a_refresh()
    {
        var rig = fixture.Rig;
        var user = Pop3Rig.NewUser("inuse");
        var password = rig.AddPasswordUser(user);
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(0, 2_000)]);
        var id = await _host.CreateActiveMailboxAsync(user, Security.None, rig.Pop3Port);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);

        // Another client (say, the user's phone) holds the maildrop: Dovecot makes the second login wait 10 s, then [IN-USE].
        using var phone = new Pop3Client();
        await phone.ConnectAsync("127.0.0.1", rig.Pop3Port, SecureSocketOptions.None);
        await phone.AuthenticateAsync(new SaslMechanismPlain(user, password));
        var error = await RpcAssert.FailsAsync(StatusCode.Unavailable, "MAILBOX_BUSY", () => StreamAsync(id));
        Assert.Contains("[IN-USE]", error.GetRpcStatus()!.GetDetail<ErrorInfo>()!.Metadata["server_reply"], StringComparison.Ordinal);
        Assert.Equal(0, _host.Credentials.RenewCalls);
        Assert.Equal(0, _host.Credentials.GiveUps);
        Assert.Equal(MailboxState.Active, (await _host.Mailboxes.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox.State);

        await phone.DisconnectAsync(true);
        Assert.Single(await StreamAsync(id));
    }

    [Theory]
    [InlineData(PersonalityServer.Gmail, true, AppPassword, StatusCode.FailedPrecondition, "REAUTHORIZATION_REQUIRED", "myaccount.google.com/apppasswords", 1)]
    [InlineData(PersonalityServer.Gmail, true, WebLogin, StatusCode.FailedPrecondition, "REAUTHORIZATION_REQUIRED", "web browser", 1)]
    [InlineData(PersonalityServer.Gmail, false, SysPerm, StatusCode.FailedPrecondition, "POP3_ACCESS_DISABLED", "Forwarding and POP/IMAP", 0)]
    [InlineData(PersonalityServer.Exchange, false, ExchangeProtocolError, StatusCode.FailedPrecondition, "POP3_AUTH_PROTOCOL_ERROR", "two steps", 0)]
    public async Task A_provider_refusal_line_gets_its_hint(string personality, bool password, string line, StatusCode code, string reason, string hint, int renewals)
    {
        var (id, user) = await MailboxAsync(personality, password);
        await Personalities.RefuseAsync(personality, user, line);

        var error = await RpcAssert.FailsAsync(code, reason, () => StreamAsync(id));
        Assert.Contains(hint, error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(line, error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(renewals, _host.Credentials.RenewCalls);
    }

    [Fact]
    public async Task Exchange_refuses_a_password_because_basic_auth_is_off_and_that_is_said_without_a_refresh()
    {
        var (id, _) = await MailboxAsync(PersonalityServer.Exchange, password: true);
        var error = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "POP3_BASIC_AUTH_DISABLED", () => StreamAsync(id));
        Assert.Contains("basic authentication is off", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("-ERR Logon failure: unknown user name or bad password.", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(0, _host.Credentials.RenewCalls);
        Assert.Equal(MailboxState.Active, (await _host.Mailboxes.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox.State);
    }

    [Fact]
    public async Task Exchange_refusing_a_token_names_the_pop_permission_after_one_renewal()
    {
        var (id, user) = await MailboxAsync(PersonalityServer.Exchange, password: false);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.AccessToken, user, "a-token-exchange-does-not-know", null);
        var error = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "REAUTHORIZATION_REQUIRED", () => StreamAsync(id));
        Assert.Contains("POP.AccessAsUser.All", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("-ERR Authentication failure: unknown user name or bad password.", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(1, _host.Credentials.RenewCalls);
    }

    [Fact]
    public async Task A_token_of_another_account_is_answered_through_gmails_error_challenge_and_named_as_such()
    {
        var (id, user) = await MailboxAsync(PersonalityServer.Gmail, password: false);
        var other = Pop3Rig.NewUser("other");
        await Personalities.AddUserAsync(PersonalityServer.Gmail, other, token: "token-of-the-other-account");
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.AccessToken, user, "token-of-the-other-account", null);
        _host.Credentials.Renewals[id] = new Pop3Credential(Pop3CredentialKind.AccessToken, user, "still-the-other-account", null);

        var error = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "REAUTHORIZATION_REQUIRED", () => StreamAsync(id));
        // The personality sends this line only after the client's empty response to its "+ <base64 JSON>" challenge.
        Assert.Contains("(server: -ERR [AUTH] Invalid credentials)", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("issued to the account named as the mailbox's username", error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(1, _host.Credentials.RenewCalls);
        Assert.Equal(1, _host.Credentials.GiveUps);
    }

    [Theory]
    [InlineData(PersonalityServer.Gmail, true, AppPassword, "GMAIL_APP_PASSWORD_REQUIRED", "apppasswords")]
    [InlineData(PersonalityServer.Gmail, true, WebLogin, "GMAIL_WEB_LOGIN_REQUIRED", "web browser")]
    [InlineData(PersonalityServer.Gmail, false, SysTemp, "SERVER_TEMPORARILY_UNAVAILABLE", "retry later")]
    [InlineData(PersonalityServer.Exchange, false, InUse, "MAILBOX_IN_USE", "another")]
    [InlineData(PersonalityServer.Exchange, false, ExchangeProtocolError, "EXCHANGE_AUTH_PROTOCOL_ERROR", "two steps")]
    public async Task DiagnoseMailbox_gives_the_same_hint_at_its_AUTH_step(string personality, bool password, string line, string reason, string hint)
    {
        var (id, user) = await MailboxAsync(personality, password);
        await Personalities.RefuseAsync(personality, user, line);

        var report = await _host.Mailboxes.DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });
        var auth = report.Steps.Single(s => s.Kind == DiagnosticStepKind.Auth);
        Assert.Equal(DiagnosticOutcome.Failed, auth.Outcome);
        Assert.Equal(reason, auth.Reason);
        Assert.Contains(hint, auth.Hint, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(line, auth.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DiagnoseMailbox_reads_gmails_final_reply_after_the_error_challenge()
    {
        var (id, user) = await MailboxAsync(PersonalityServer.Gmail, password: false);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.AccessToken, user, "not-this-accounts-token", null);

        var report = await _host.Mailboxes.DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });
        var auth = report.Steps.Single(s => s.Kind == DiagnosticStepKind.Auth);
        Assert.Equal("TOKEN_REFUSED", auth.Reason);
        Assert.Contains("-ERR [AUTH] Invalid credentials", auth.Detail, StringComparison.Ordinal);
        Assert.Contains("https://mail.google.com/", auth.Hint, StringComparison.Ordinal);
    }
}
