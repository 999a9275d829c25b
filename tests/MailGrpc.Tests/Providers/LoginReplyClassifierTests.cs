using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.GrpcApi;
using MailGrpc.Server.Diagnostics;
using MailGrpc.Server.Pop3;
using MailGrpc.V1;

namespace MailGrpc.Tests.Providers;

/// <summary>Each provider's exact login lines (tests/rig/README.md names their sources) → kind, reason and hint.</summary>
[Trait("Layer", "Fast")]
public sealed class LoginReplyClassifierTests
{
    [Theory]
    [InlineData("-ERR [IN-USE] Mailbox in use. Please try again later.", Provider.Google, "MAILBOX_BUSY")]
    [InlineData("-ERR [IN-USE] Mailbox is locked by another POP3 session.", Provider.Generic, "MAILBOX_BUSY")]
    [InlineData("-ERR [IN-USE] Mailbox in use. Please try again later.", Provider.Microsoft, "MAILBOX_BUSY")]
    [InlineData("-ERR [SYS/TEMP] Temporary system problem. Please try again later.", Provider.Google, "POP3_SERVER_UNAVAILABLE")]
    [InlineData("-ERR [SYS/TEMP] Temporary authentication failure.", Provider.Generic, "POP3_SERVER_UNAVAILABLE")]
    [InlineData("-ERR [LOGIN-DELAY] Minimum time between mail checks violated", Provider.Generic, "POP3_SERVER_UNAVAILABLE")]
    public void Temporary_codes_are_retryable_and_never_touch_the_credential(string line, Provider provider, string reason)
    {
        foreach (var password in new[] { true, false })
        {
            var (refusal, _) = LoginReplyClassifier.Classify(line, MailboxProtoMapper.ToDomain(provider)!.Value, password);
            Assert.Equal(LoginRefusalKind.Temporary, refusal.Kind);
            Assert.Equal(reason, refusal.Reason);
            var ex = refusal.ToException();
            Assert.Equal(MailGrpc.Server.Errors.ErrorKind.Unavailable, ex.Kind);
            Assert.Equal(line, ex.Metadata["server_reply"]);
            Assert.True(int.Parse(ex.Metadata["retry_after_seconds"], System.Globalization.CultureInfo.InvariantCulture) > 0);
        }
    }

    [Theory]
    [InlineData("-ERR [SYS/PERM] Your account is not enabled for POP access. Please visit your Gmail settings page and enable your account for POP access.", Provider.Google, false, "Permanent", "POP3_ACCESS_DISABLED", "POP_DISABLED", "Forwarding and POP/IMAP")]
    [InlineData("-ERR [AUTH] Application-specific password required: https://support.google.com/accounts/answer/185833", Provider.Google, true, "Credential", "POP3_CREDENTIAL_REFUSED", "GMAIL_APP_PASSWORD_REQUIRED", "apppasswords")]
    [InlineData("-ERR [AUTH] Web login required: https://support.google.com/mail/answer/78754", Provider.Google, true, "Credential", "POP3_CREDENTIAL_REFUSED", "GMAIL_WEB_LOGIN_REQUIRED", "web browser")]
    [InlineData("-ERR [AUTH] Username and password not accepted.", Provider.Google, true, "Credential", "POP3_CREDENTIAL_REFUSED", "GMAIL_PASSWORD_REFUSED", "app password")]
    [InlineData("-ERR [AUTH] Invalid credentials", Provider.Google, false, "Credential", "POP3_CREDENTIAL_REFUSED", "GMAIL_TOKEN_REFUSED", "https://mail.google.com/")]
    [InlineData("-ERR Logon failure: unknown user name or bad password.", Provider.Microsoft, true, "Permanent", "POP3_BASIC_AUTH_DISABLED", "EXCHANGE_BASIC_AUTH_OFF", "with OAuth")]
    [InlineData("-ERR Authentication failure: unknown user name or bad password.", Provider.Microsoft, false, "Credential", "POP3_CREDENTIAL_REFUSED", "EXCHANGE_TOKEN_REFUSED", "POP.AccessAsUser.All")]
    [InlineData("-ERR Protocol error. Connection is closed. 10", Provider.Microsoft, false, "Permanent", "POP3_AUTH_PROTOCOL_ERROR", "EXCHANGE_AUTH_PROTOCOL_ERROR", "two steps")]
    [InlineData("-ERR [AUTH] Authentication failed.", Provider.Generic, true, "Credential", "POP3_CREDENTIAL_REFUSED", "PASSWORD_REFUSED", "SetMailboxPassword")]
    [InlineData(null, Provider.Generic, false, "Credential", "POP3_CREDENTIAL_REFUSED", "TOKEN_REFUSED", "Authorize the mailbox again")]
    public void Provider_lines_get_their_reason_and_hint(string? line, Provider provider, bool password, string kind, string reason, string hintId, string hint)
    {
        var (refusal, id) = LoginReplyClassifier.Classify(line, MailboxProtoMapper.ToDomain(provider)!.Value, password);
        Assert.Equal(kind, refusal.Kind.ToString());
        Assert.Equal(reason, refusal.Reason);
        Assert.Equal(hintId, id);
        Assert.Contains(hint, refusal.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void The_wrong_way_hints_of_the_issue_are_gone()
    {
        // Gmail's app-password line no longer says "basic authentication is off: use OAuth".
        var appPassword = LoginReplyClassifier.Classify("-ERR [AUTH] Application-specific password required: https://support.google.com/accounts/answer/185833", MailboxProvider.Google, password: true).Refusal.Hint;
        Assert.DoesNotContain("basic authentication is off", appPassword, StringComparison.OrdinalIgnoreCase);
        // [SYS/TEMP] no longer says "authorize again".
        var sysTemp = LoginReplyClassifier.Classify("-ERR [SYS/TEMP] Temporary system problem. Please try again later.", MailboxProvider.Google, password: false).Refusal.Hint;
        Assert.DoesNotContain("authorize", sysTemp, StringComparison.OrdinalIgnoreCase);
        // Exchange's basic-auth line says so, not "token / PopEnabled".
        var logon = LoginReplyClassifier.Classify("-ERR Logon failure: unknown user name or bad password.", MailboxProvider.Microsoft, password: true).Refusal.Hint;
        Assert.Contains("basic authentication is off", logon, StringComparison.Ordinal);
        Assert.DoesNotContain("PopEnabled", logon, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-ERR [AUTH] Application-specific password required: https://support.google.com/accounts/answer/185833", true, "GMAIL_APP_PASSWORD_REQUIRED")]
    [InlineData("-ERR [AUTH] Web login required: https://support.google.com/mail/answer/78754", true, "GMAIL_WEB_LOGIN_REQUIRED")]
    [InlineData("-ERR [SYS/TEMP] Temporary system problem. Please try again later.", false, "SERVER_TEMPORARILY_UNAVAILABLE")]
    public void DiagnoseMailbox_uses_the_same_hints(string line, bool password, string reason)
    {
        var finding = DiagnosticHints.ClassifyAuthError("Authentication failed. " + line, new HintContext(MailboxProvider.Google), password);
        Assert.Equal(reason, finding.Reason);
        Assert.Equal(LoginReplyClassifier.Classify(line, MailboxProvider.Google, password).Refusal.Hint, finding.Hint);
    }

    [Fact]
    public void DiagnoseMailbox_tells_exchange_basic_auth_from_a_token_problem()
    {
        var microsoft = new HintContext(MailboxProvider.Microsoft);
        Assert.Equal("EXCHANGE_BASIC_AUTH_OFF", DiagnosticHints.ClassifyAuthError("-ERR Logon failure: unknown user name or bad password.", microsoft, password: true).Reason);
        Assert.Equal("EXCHANGE_AUTH_PROTOCOL_ERROR", DiagnosticHints.ClassifyAuthError("-ERR Protocol error. Connection is closed. 10", microsoft, password: false).Reason);
    }
}
