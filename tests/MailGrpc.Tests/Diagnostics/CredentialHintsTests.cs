using Grpc.Core;
using MailGrpc.Server.Diagnostics;
using MailGrpc.Server.Errors;
using MailGrpc.Server.GrpcApi;
using MailGrpc.Server.Mailboxes;
using MailGrpc.V1;

namespace MailGrpc.Tests.Diagnostics;

/// <summary>
/// The TOKEN step's hints follow the mailbox's auth method and stored credential kind, and the token layer's exact
/// reason: a password mailbox never gets an OAuth flow, a POP3 refusal is not a token refusal, Redis is not the provider.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class CredentialHintsTests
{
    private static MailboxRecord Mailbox(MailboxAuthKind auth, MailboxProvider provider = MailboxProvider.Generic, string? lastError = null) => new()
    {
        Tenant = "t",
        Id = "m",
        Username = "user@example.com",
        Host = "pop.example.com",
        Provider = provider,
        AuthKind = auth,
        LastErrorReason = lastError,
    };

    private static MailGrpcException Error(string reason, Dictionary<string, string>? metadata = null) =>
        new(ErrorKind.FailedPrecondition, reason, "x", metadata);

    [Theory]
    [InlineData(Provider.Google, "myaccount.google.com/apppasswords")]
    [InlineData(Provider.Microsoft, "basic authentication")]
    [InlineData(Provider.Generic, "SetMailboxPassword")]
    public void A_password_mailbox_without_a_password_gets_password_guidance_for_its_provider(Provider provider, string expected)
    {
        var domain = MailboxProtoMapper.ToDomain(provider)!.Value;
        var finding = CredentialHints.ClassifyTokenFailure(Error(ErrorReasons.NotAuthorized), Mailbox(MailboxAuthKind.Password, domain), new HintContext(domain))!;

        Assert.Equal("PASSWORD_MISSING", finding.Reason);
        Assert.Contains(expected, finding.Hint, StringComparison.Ordinal);
        Assert.DoesNotContain("BeginAuthorization", finding.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pop3_refusal_is_told_from_a_token_refusal_and_uses_the_flows_the_credential_kind_allows()
    {
        var delegatedMicrosoft = CredentialHints.ClassifyTokenFailure(Error(ErrorReasons.ReauthorizationRequired), Mailbox(MailboxAuthKind.OAuth, MailboxProvider.Microsoft, ErrorReasons.Pop3CredentialRefused), new HintContext(MailboxProvider.Microsoft))!;
        Assert.Equal("POP3_CREDENTIAL_REFUSED", delegatedMicrosoft.Reason);
        Assert.Contains("BeginAuthorization", delegatedMicrosoft.Hint, StringComparison.Ordinal);
        Assert.DoesNotContain("StartDeviceAuthorization", delegatedMicrosoft.Hint, StringComparison.Ordinal);

        var appOnly = CredentialHints.ClassifyTokenFailure(Error(ErrorReasons.ReauthorizationRequired), Mailbox(MailboxAuthKind.OAuth, MailboxProvider.Microsoft, ErrorReasons.Pop3CredentialRefused), new HintContext(MailboxProvider.Microsoft, AppOnly: true))!;
        Assert.Equal("EXCHANGE_APP_PERMISSION_MISSING", appOnly.Reason);
        Assert.Contains("Add-MailboxPermission", appOnly.Hint, StringComparison.Ordinal);

        var generic = CredentialHints.ClassifyTokenFailure(Error(ErrorReasons.ReauthorizationRequired), Mailbox(MailboxAuthKind.OAuth, MailboxProvider.Generic, ErrorReasons.InvalidGrant), new HintContext(MailboxProvider.Generic))!;
        Assert.Equal("INVALID_GRANT", generic.Reason);
        Assert.Contains("StartDeviceAuthorization", generic.Hint, StringComparison.Ordinal);

        var password = CredentialHints.ClassifyTokenFailure(Error(ErrorReasons.MailboxNotActive), Mailbox(MailboxAuthKind.Password, MailboxProvider.Generic, ErrorReasons.Pop3CredentialRefused), new HintContext(MailboxProvider.Generic))!;
        Assert.Equal("PASSWORD_REFUSED", password.Reason);
        Assert.Contains("SetMailboxPassword", password.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void The_state_store_and_throttling_are_not_reported_as_a_provider_that_did_not_answer()
    {
        var store = CredentialHints.ClassifyTokenFailure(Error(ErrorReasons.StoreUnavailable), Mailbox(MailboxAuthKind.OAuth), new HintContext(MailboxProvider.Generic))!;
        Assert.Equal("STORE_UNAVAILABLE", store.Reason);

        var throttled = CredentialHints.ClassifyTokenFailure(Error(ErrorReasons.ProviderUnavailable, new() { ["retry_after_seconds"] = "30" }), Mailbox(MailboxAuthKind.OAuth, MailboxProvider.Microsoft), new HintContext(MailboxProvider.Microsoft))!;
        Assert.Equal("PROVIDER_THROTTLED", throttled.Reason);
        Assert.Contains("30 s", throttled.Hint, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(ErrorReasons.OAuthClientSecretInvalid, "CLIENT_SECRET_INVALID", "ClientSecret")]
    [InlineData(ErrorReasons.OAuthClientIdInvalid, "CLIENT_ID_INVALID", "ClientId")]
    [InlineData(ErrorReasons.OAuthTenantNotFound, "TENANT_NOT_FOUND", "TenantId")]
    public void Client_misconfiguration_names_the_key(string reason, string expected, string key)
    {
        var finding = CredentialHints.ClassifyTokenFailure(Error(reason), Mailbox(MailboxAuthKind.OAuth, MailboxProvider.Microsoft), new HintContext(MailboxProvider.Microsoft))!;

        Assert.Equal(expected, finding.Reason);
        Assert.Contains($"MailGrpc:OAuthClients:<name>:{key}", finding.Hint, StringComparison.Ordinal);
    }
}
