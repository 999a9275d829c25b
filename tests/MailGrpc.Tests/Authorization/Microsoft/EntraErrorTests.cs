using Google.Rpc;
using Grpc.Core;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Identity.Client;

namespace MailGrpc.Tests.Authorization.Entra;

/// <summary>
/// Microsoft errors that say what to fix: against the strict in-process Entra fake (recorded error layout: error,
/// AADSTS description with trace/correlation/timestamp, error_codes, suberror), each AADSTS case becomes its own
/// reason naming the configuration key or admin action, with Entra's code, trace id and correlation id whole in
/// ErrorInfo.metadata; a 429's Retry-After becomes RetryInfo; an app-only token without roles never activates a mailbox.
/// </summary>
public sealed class EntraErrorTests : IDisposable
{
    private readonly TestTenant _tenant = TestTenant.Create("entra");
    private readonly EntraFake _entra = new();

    public void Dispose() => _entra.Dispose();

    private MailGrpcTestHost Host(Action<Dictionary<string, string?>>? change = null)
    {
        var settings = MicrosoftProviderTests.Settings(_tenant);
        change?.Invoke(settings);
        return new MailGrpcTestHost(settings, services => services.AddSingleton<IMsalHttpClientFactory>(_entra));
    }

    private async Task<string> CreateMailboxAsync(MailGrpcTestHost host, string username = "shared@contoso.onmicrosoft.com", int port = 11995, Security security = Security.ImplicitTls)
    {
        var created = await host.Mailboxes(_tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = new Mailbox
            {
                Username = username,
                Server = new ServerSettings { Host = "127.0.0.1", Port = port, Security = security },
                AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "m365" } },
            },
        });
        return created.Mailbox.MailboxId;
    }

    [Theory]
    [InlineData("ClientSecret", "wrong~secret", "OAUTH_CLIENT_SECRET_INVALID", "AADSTS7000215", "MailGrpc:OAuthClients:<name>:ClientSecret", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")]
    [InlineData("ClientId", "00000000-1111-2222-3333-444444444444", "OAUTH_CLIENT_ID_INVALID", "AADSTS700016", "MailGrpc:OAuthClients:<name>:ClientId", "was not found in the directory")]
    [InlineData("TenantId", "nosuchtenant.onmicrosoft.com", "OAUTH_TENANT_NOT_FOUND", "AADSTS90002", "MailGrpc:OAuthClients:<name>:TenantId", "Tenant 'nosuchtenant.onmicrosoft.com' not found")]
    public async Task A_misconfigured_client_names_the_key_to_fix_with_entras_code_and_ids_whole(string key, string value, string reason, string code, string names, string description)
    {
        await using var host = Host(s => s[$"MailGrpc:OAuthClients:m365:{key}"] = value);
        var id = await CreateMailboxAsync(host);

        var error = await Assert.ThrowsAsync<RpcException>(() => host.Authorization(_tenant.ApiKey).AuthorizeWithClientCredentialsAsync(new AuthorizeWithClientCredentialsRequest { MailboxId = id }).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        var info = error.GetRpcStatus()!.GetDetail<ErrorInfo>()!;
        Assert.Equal(reason, info.Reason);
        Assert.Contains(names, error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains($"{code}: ", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains(description, error.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(code, info.Metadata["provider_code"]);
        Assert.Equal(code["AADSTS".Length..], info.Metadata["error_codes"]);
        var sent = _entra.LastError!;
        Assert.Equal(sent["trace_id"]!.GetValue<string>(), info.Metadata["trace_id"]);
        Assert.Equal(sent["correlation_id"]!.GetValue<string>(), info.Metadata["correlation_id"]);
        Assert.DoesNotContain(EntraFake.ClientSecret, error.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong~secret", error.ToString(), StringComparison.Ordinal);
        Assert.Null(error.GetRpcStatus()!.GetDetail<RetryInfo>());
        var mailbox = await host.Mailboxes(_tenant.ApiKey).GetMailboxAsync(new GetMailboxRequest { MailboxId = id });
        Assert.Equal(MailboxState.PendingAuthorization, mailbox.Mailbox.State);
    }

    [Fact]
    public async Task A_throttled_request_is_unavailable_with_the_retry_after_entra_sent()
    {
        // MSAL remembers a 429 per client, authority and scope for the Retry-After (process-wide): a scope of its own
        // keeps that memory away from the other tests.
        await using var host = Host(s => s["MailGrpc:OAuthClients:m365:Scopes:0"] = "api://mailgrpc-throttle-test/.default");
        var id = await CreateMailboxAsync(host);
        _entra.FailGrant = EntraFake.Failure.Throttled429;
        _entra.RetryAfter = TimeSpan.FromSeconds(37);

        var error = await Assert.ThrowsAsync<RpcException>(() => host.Authorization(_tenant.ApiKey).AuthorizeWithClientCredentialsAsync(new AuthorizeWithClientCredentialsRequest { MailboxId = id }).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        var status = error.GetRpcStatus()!;
        var info = status.GetDetail<ErrorInfo>()!;
        Assert.Equal("OAUTH_PROVIDER_UNAVAILABLE", info.Reason);
        Assert.Equal("37", info.Metadata["retry_after_seconds"]);
        Assert.Equal("AADSTS90055", info.Metadata["provider_code"]);
        Assert.Equal(TimeSpan.FromSeconds(37), status.GetDetail<RetryInfo>()!.RetryDelay.ToTimeSpan());
        Assert.Contains("throttled", status.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_app_only_token_without_roles_does_not_activate_the_mailbox_and_says_admin_consent_is_missing()
    {
        await using var host = Host();
        var id = await CreateMailboxAsync(host);
        _entra.AppOnlyWithoutRoles = true;

        var error = await Assert.ThrowsAsync<RpcException>(() => host.Authorization(_tenant.ApiKey).AuthorizeWithClientCredentialsAsync(new AuthorizeWithClientCredentialsRequest { MailboxId = id }).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal("OAUTH_ADMIN_CONSENT_REQUIRED", RpcAssert.Reason(error));
        Assert.Contains("POP.AccessAsApp", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("admin consent", error.Status.Detail, StringComparison.Ordinal);
        var mailbox = await host.Mailboxes(_tenant.ApiKey).GetMailboxAsync(new GetMailboxRequest { MailboxId = id });
        Assert.NotEqual(MailboxState.Active, mailbox.Mailbox.State);

        _entra.AppOnlyWithoutRoles = false;
        var status = (await host.Authorization(_tenant.ApiKey).AuthorizeWithClientCredentialsAsync(new AuthorizeWithClientCredentialsRequest { MailboxId = id })).Status;
        Assert.Equal(MailboxState.Active, status.State);
    }

    [Theory]
    [InlineData(EntraFake.Failure.ConsentRequired65001, "OAUTH_ADMIN_CONSENT_REQUIRED", "AADSTS65001", "consent_required")]
    [InlineData(EntraFake.Failure.ConditionalAccess53003, "OAUTH_CONDITIONAL_ACCESS", "AADSTS53003", "message_only")]
    public async Task Consent_and_conditional_access_at_the_code_redemption_name_the_admin_action(EntraFake.Failure failure, string reason, string code, string suberror)
    {
        await using var host = Host();
        var id = await CreateMailboxAsync(host, "alice@contoso.onmicrosoft.com");
        var begun = await host.Authorization(_tenant.ApiKey).BeginAuthorizationAsync(new BeginAuthorizationRequest { MailboxId = id });
        var callback = _entra.SignIn(begun.AuthorizationUrl);
        _entra.FailGrant = failure;
        _entra.FailGrantType = "authorization_code";

        var error = await Assert.ThrowsAsync<RpcException>(() => host.Authorization(_tenant.ApiKey).CompleteAuthorizationAsync(new CompleteAuthorizationRequest { CallbackUrl = callback.ToString() }).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        var info = error.GetRpcStatus()!.GetDetail<ErrorInfo>()!;
        Assert.Equal(reason, info.Reason);
        Assert.Equal(code, info.Metadata["provider_code"]);
        Assert.Equal(suberror, info.Metadata["suberror"]);
        Assert.Equal(_entra.LastError!["correlation_id"]!.GetValue<string>(), info.Metadata["correlation_id"]);
        Assert.Contains("administrator", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Diagnose_after_a_pop3_refusal_of_an_app_only_mailbox_names_the_exchange_permission_to_grant()
    {
        // The rig's Dovecot (plaintext port) refuses Entra's tokens, as Exchange refuses an app without mailbox permission.
        await using var host = Host();
        var id = await CreateMailboxAsync(host, "shared@contoso.onmicrosoft.com", port: 11110, security: Security.None);
        var status = (await host.Authorization(_tenant.ApiKey).AuthorizeWithClientCredentialsAsync(new AuthorizeWithClientCredentialsRequest { MailboxId = id })).Status;
        Assert.Equal(MailboxState.Active, status.State);

        var refused = await Assert.ThrowsAsync<RpcException>(() => host.Messages(_tenant.ApiKey).ListMessagesAsync(new ListMessagesRequest { MailboxId = id }).ResponseAsync);
        Assert.Equal("REAUTHORIZATION_REQUIRED", RpcAssert.Reason(refused));
        var after = await host.Authorization(_tenant.ApiKey).GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id });
        Assert.Equal("POP3_CREDENTIAL_REFUSED", after.Status.LastErrorReason);

        var diagnosis = await host.Mailboxes(_tenant.ApiKey).DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = id });

        var failed = Assert.Single(diagnosis.Steps, s => s.Outcome == DiagnosticOutcome.Failed);
        Assert.Equal(DiagnosticStepKind.Token, failed.Kind);
        Assert.Equal("EXCHANGE_APP_PERMISSION_MISSING", failed.Reason);
        Assert.Contains("Add-MailboxPermission", failed.Hint, StringComparison.Ordinal);
        Assert.Contains("New-ServicePrincipal", failed.Hint, StringComparison.Ordinal);
        Assert.DoesNotContain("refresh token", failed.Hint, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("StartDeviceAuthorization", failed.Hint, StringComparison.Ordinal);
    }
}
