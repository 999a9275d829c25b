using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;
using MailboxState = MailGrpc.V1.MailboxState;

namespace MailGrpc.Tests.Authorization;

/// <summary>Passwords on the embedded store: set, status, the POP3 seam, refusal, and bad input that writes nothing.</summary>
[Trait("Layer", "Fast")]
public sealed class PasswordCredentialTests : IAsyncDisposable
{
    private readonly TestTenant _tenant = TestTenant.Create("pw");
    private readonly MailGrpcTestHost _host;

    public PasswordCredentialTests()
    {
        var settings = MailGrpcTestHost.ApiKeySettings(_tenant);
        settings["MailGrpc:Network:AllowPrivateAddresses"] = "true";
        settings["MailGrpc:OAuthClients:rig:Provider"] = "Generic";
        settings["MailGrpc:OAuthClients:rig:ClientId"] = "client";
        settings["MailGrpc:OAuthClients:rig:Authority"] = "https://127.0.0.1:1";
        _host = new MailGrpcTestHost(settings);
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private async Task<string> CreateAsync(AuthMethod method)
    {
        var created = await _host.Mailboxes(_tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = new Mailbox
            {
                Username = "alice@example.test",
                Server = new ServerSettings { Host = "127.0.0.1", Port = 11110, Security = Security.None },
                AuthMethod = method,
            },
        });
        return created.Mailbox.MailboxId;
    }

    [Fact]
    public async Task Password_is_stored_activates_the_mailbox_and_reaches_the_pop3_seam_but_never_the_status()
    {
        var id = await CreateAsync(new AuthMethod { Password = new PasswordAuth() });
        var auth = _host.Authorization(_tenant.ApiKey);

        var before = await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id });
        Assert.Equal(MailboxState.PendingAuthorization, before.Status.State);
        Assert.Equal(CredentialKind.Unspecified, before.Status.CredentialKind);

        var set = await auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = "app-pass-Secret-42", SkipVerification = true });
        Assert.Equal(MailboxState.Active, set.Status.State);
        Assert.Equal(CredentialKind.Password, set.Status.CredentialKind);
        Assert.DoesNotContain("app-pass-Secret-42", set.ToString(), StringComparison.Ordinal);

        var status = await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = id });
        Assert.Equal(CredentialKind.Password, status.Status.CredentialKind);
        Assert.Null(status.Status.AccessTokenExpireTime);

        var mailbox = await _host.Services.GetRequiredService<MailboxRepository>().GetRequiredAsync(_tenant.Name, id, default);
        var credentials = _host.Services.GetRequiredService<IMailboxCredentials>();
        var credential = await credentials.GetAsync(mailbox, default);
        Assert.Equal(Pop3CredentialKind.Password, credential.Kind);
        Assert.Equal("alice@example.test", credential.Username);
        Assert.Equal("app-pass-Secret-42", credential.Secret);
        Assert.DoesNotContain("Secret-42", credential.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_password_moves_the_mailbox_to_reauthorization_required()
    {
        var id = await CreateAsync(new AuthMethod { Password = new PasswordAuth() });
        var auth = _host.Authorization(_tenant.ApiKey);
        await auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = "pw", SkipVerification = true });
        var repository = _host.Services.GetRequiredService<MailboxRepository>();
        var credentials = _host.Services.GetRequiredService<IMailboxCredentials>();
        var mailbox = await repository.GetRequiredAsync(_tenant.Name, id, default);
        var credential = await credentials.GetAsync(mailbox, default);

        var error = await Assert.ThrowsAsync<MailGrpc.Server.Errors.MailGrpcException>(() => credentials.RenewAfterRefusalAsync(mailbox, credential, default));
        Assert.Equal(MailGrpc.Server.Errors.ErrorKind.FailedPrecondition, error.Kind);
        Assert.Equal("REAUTHORIZATION_REQUIRED", error.Reason);

        var after = await repository.GetRequiredAsync(_tenant.Name, id, default);
        Assert.Equal(MailGrpc.Server.Mailboxes.MailboxState.ReauthorizationRequired, after.State);
        Assert.Equal("INVALID_PASSWORD", after.LastErrorReason);
        var again = await Assert.ThrowsAsync<MailGrpc.Server.Errors.MailGrpcException>(() => credentials.GetAsync(after, default));
        Assert.Equal("REAUTHORIZATION_REQUIRED", again.Reason);

        // Setting the password again brings it back.
        var reset = await auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = "pw2", SkipVerification = true });
        Assert.Equal(MailboxState.Active, reset.Status.State);
        Assert.Equal(string.Empty, reset.Status.LastErrorReason);
    }

    [Fact]
    public async Task Bad_input_gets_a_precise_status_and_stores_nothing()
    {
        var passwordBox = await CreateAsync(new AuthMethod { Password = new PasswordAuth() });
        var oauthBox = await CreateAsync(new AuthMethod { Oauth = new OAuthAuth { Client = "rig" } });
        var auth = _host.Authorization(_tenant.ApiKey);

        await RpcAssert(StatusCode.InvalidArgument, "INVALID_PASSWORD", auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = passwordBox, Password = "" }).ResponseAsync);
        await RpcAssert(StatusCode.InvalidArgument, "INVALID_PASSWORD", auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = passwordBox, Password = "a\r\nDELE 1" }).ResponseAsync);
        await RpcAssert(StatusCode.InvalidArgument, "INVALID_PASSWORD", auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = passwordBox, Password = new string('x', 1025) }).ResponseAsync);
        await RpcAssert(StatusCode.FailedPrecondition, "NOT_PASSWORD_MAILBOX", auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = oauthBox, Password = "pw" }).ResponseAsync);
        await RpcAssert(StatusCode.NotFound, "MAILBOX_NOT_FOUND", auth.SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = "missing", Password = "pw" }).ResponseAsync);
        await RpcAssert(StatusCode.InvalidArgument, "INVALID_MAILBOX_ID", auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = "Bad Id" }).ResponseAsync);

        var status = await auth.GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest { MailboxId = passwordBox });
        Assert.Equal(CredentialKind.Unspecified, status.Status.CredentialKind);
        Assert.Equal(MailboxState.PendingAuthorization, status.Status.State);

        var mailbox = await _host.Services.GetRequiredService<MailboxRepository>().GetRequiredAsync(_tenant.Name, passwordBox, default);
        var error = await Assert.ThrowsAsync<MailGrpc.Server.Errors.MailGrpcException>(() => _host.Services.GetRequiredService<IMailboxCredentials>().GetAsync(mailbox, default));
        Assert.Equal("NOT_AUTHORIZED", error.Reason);
    }

    [Fact]
    public async Task Another_tenant_cannot_see_or_set_the_mailbox()
    {
        var id = await CreateAsync(new AuthMethod { Password = new PasswordAuth() });
        var other = TestTenant.Create("other");
        var settings = new Dictionary<string, string?>(_host.Settings)
        {
            ["MailGrpc:ApiKeys:1:Tenant"] = other.Name,
            ["MailGrpc:ApiKeys:1:KeyHash"] = other.KeyHash,
        };
        await using var host = new MailGrpcTestHost(settings);
        await RpcAssert(StatusCode.NotFound, "MAILBOX_NOT_FOUND", host.Authorization(other.ApiKey).SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = "pw" }).ResponseAsync);
    }

    internal static async Task RpcAssert<T>(StatusCode code, string reason, Task<T> call)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => call);
        Assert.Equal(code, error.StatusCode);
        var status = error.GetRpcStatus();
        Assert.NotNull(status);
        var info = status!.GetDetail<Google.Rpc.ErrorInfo>();
        Assert.Equal(reason, info?.Reason);
    }
}
