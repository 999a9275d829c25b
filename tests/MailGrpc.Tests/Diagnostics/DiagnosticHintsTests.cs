using MailGrpc.Server.Diagnostics;
using MailGrpc.Server.Mailboxes;
using MailGrpc.V1;

namespace MailGrpc.Tests.Diagnostics;

/// <summary>The hint classifier on the providers' real error texts (Entra, Google OAuth, Exchange Online and Gmail POP3, Dovecot).</summary>
[Trait("Layer", "Fast")]
public sealed class DiagnosticHintsTests
{
    private static readonly HintContext Microsoft = new(MailboxProvider.Microsoft);
    private static readonly HintContext MicrosoftAppOnly = new(MailboxProvider.Microsoft, AppOnly: true);
    private static readonly HintContext Google = new(MailboxProvider.Google);

    [Theory]
    [InlineData("AADSTS65001: The user or administrator has not consented to use the application with ID 'a1b2c3' named 'MailGrpc'. Send an interactive authorization request for this user and resource.", "CONSENT_MISSING", "consent")]
    [InlineData("AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2025-01-01T00:00:00Z and was inactive for 90.00:00:00.", "INVALID_GRANT", "Authorize the mailbox again")]
    [InlineData("invalid_grant: AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed.", "INVALID_GRANT", "Authorize the mailbox again")]
    [InlineData("AADSTS70043: The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.", "CONDITIONAL_ACCESS", "Conditional Access")]
    [InlineData("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.", "CLIENT_SECRET_INVALID", "ClientSecret")]
    [InlineData("The token response has no refresh token: request the offline_access scope.", "OFFLINE_ACCESS_MISSING", "offline_access")]
    public void Microsoft_token_errors_get_their_fix(string text, string reason, string hintPart)
    {
        var finding = DiagnosticHints.ClassifyTokenError(text, Microsoft);
        Assert.Equal(reason, finding.Reason);
        Assert.Contains(hintPart, finding.Hint, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Google_invalid_grant_names_the_testing_mode_seven_day_expiry()
    {
        var finding = DiagnosticHints.ClassifyTokenError("{\"error\": \"invalid_grant\", \"error_description\": \"Token has been expired or revoked.\"}", Google);
        Assert.Equal("GOOGLE_TESTING_MODE_EXPIRY", finding.Reason);
        Assert.Contains("7 days", finding.Hint, StringComparison.Ordinal);
        Assert.Contains("In production", finding.Hint, StringComparison.Ordinal);

        // The same text from another provider is a plain invalid_grant.
        Assert.Equal("INVALID_GRANT", DiagnosticHints.ClassifyTokenError("{\"error\": \"invalid_grant\", \"error_description\": \"Token has been expired or revoked.\"}", Microsoft).Reason);
    }

    [Fact]
    public void Google_without_a_refresh_token_asks_for_access_type_offline()
    {
        var finding = DiagnosticHints.ClassifyTokenError("The token response has no refresh token (offline_access).", Google);
        Assert.Equal("OFFLINE_ACCESS_MISSING", finding.Reason);
        Assert.Contains("access_type=offline", finding.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Exchange_app_only_logon_failure_names_the_service_principal_and_mailbox_permission()
    {
        var finding = DiagnosticHints.ClassifyAuthError("-ERR Authentication failure: unknown user name or bad password.", MicrosoftAppOnly, password: false);
        Assert.Equal("EXCHANGE_APP_PERMISSION_MISSING", finding.Reason);
        Assert.Contains("New-ServicePrincipal", finding.Hint, StringComparison.Ordinal);
        Assert.Contains("Add-MailboxPermission", finding.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Exchange_delegated_logon_failure_points_at_pop_being_disabled_first()
    {
        var finding = DiagnosticHints.ClassifyAuthError("-ERR Logon failure: unknown user name or bad password.", Microsoft, password: false);
        Assert.Equal("POP_DISABLED", finding.Reason);
        Assert.Contains("Set-CASMailbox", finding.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Gmail_with_pop_disabled_says_how_to_enable_it()
    {
        var finding = DiagnosticHints.ClassifyAuthError("-ERR [SYS/PERM] Your account is not enabled for POP access. Please visit your Gmail settings page and enable your account for POP access.", Google, password: false);
        Assert.Equal("POP_DISABLED", finding.Reason);
        Assert.Contains("Gmail settings", finding.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Gmail_refusing_a_token_names_the_mail_scope()
    {
        var finding = DiagnosticHints.ClassifyAuthError("-ERR [AUTH] Invalid credentials", Google, password: false);
        Assert.Equal("TOKEN_REFUSED", finding.Reason);
        Assert.Contains("https://mail.google.com/", finding.Hint, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-ERR [IN-USE] Mailbox is locked by another POP3 session")]
    [InlineData("-ERR [IN-USE] Couldn't open INBOX: Mailbox is locked")]
    public void A_locked_maildrop_is_IN_USE_at_AUTH_and_at_STAT(string text)
    {
        Assert.Equal("MAILBOX_IN_USE", DiagnosticHints.ClassifyAuthError(text, new HintContext(MailboxProvider.Generic), password: false).Reason);
        Assert.Equal("MAILBOX_IN_USE", DiagnosticHints.ClassifyStatError(text).Reason);
    }

    [Fact]
    public void A_refused_password_suggests_oauth_or_an_app_password()
    {
        var finding = DiagnosticHints.ClassifyAuthError("-ERR [AUTH] Authentication failed.", new HintContext(MailboxProvider.Generic), password: true);
        Assert.Equal("PASSWORD_REFUSED", finding.Reason);
        Assert.Contains("SetMailboxPassword", finding.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Unverified_jwt_claims_tell_app_only_from_delegated()
    {
        static string Jwt(string payload) => "eyJhbGciOiJub25lIn0." + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(payload)).TrimEnd('=').Replace('+', '-').Replace('/', '_') + ".sig";

        var appOnly = AccessTokenClaims.TryRead(Jwt("{\"exp\":2000000000,\"roles\":[\"POP.AccessAsApp\"]}"));
        Assert.NotNull(appOnly);
        Assert.True(appOnly!.AppOnly);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(2000000000), appOnly.ExpiresAt);

        var delegated = AccessTokenClaims.TryRead(Jwt("{\"exp\":2000000000,\"scp\":\"POP.AccessAsUser.All\"}"));
        Assert.False(delegated!.AppOnly);
        Assert.Contains("POP.AccessAsUser.All", delegated.Permissions);

        Assert.Null(AccessTokenClaims.TryRead("opaque-token"));
    }
}
