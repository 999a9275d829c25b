using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Callers;
using MailGrpc.Server.Errors;
using MailGrpc.Server.GrpcApi;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;
using StoredKind = MailGrpc.Server.Authorization.Secrets.CredentialKind;

using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Authorization.Fast;

/// <summary>
/// The gRPC edge of authorization, called directly with a <see cref="TestServerCallContext"/> (grpc-dotnet's unit-test
/// style): requests reach the manager as domain values and results come back as the same proto messages as before.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class AuthorizationGrpcServiceFastTests : IAsyncDisposable
{
    private const string Tenant = "fast-edge";
    private readonly AuthorizationCore _core = new();

    public ValueTask DisposeAsync() => _core.DisposeAsync();

    private AuthorizationGrpcService Service => ActivatorUtilities.CreateInstance<AuthorizationGrpcService>(_core.Services);

    private static TestServerCallContext Call() => TestServerCallContext.ForTenant(Tenant);

    [Fact]
    public async Task Begin_and_complete_answer_the_proto_messages_with_every_status_field()
    {
        var mailbox = await _core.CreateOAuthMailboxAsync(Tenant);

        var begun = await Service.BeginAuthorization(new BeginAuthorizationRequest { MailboxId = mailbox.Id }, Call());
        var callback = _core.Provider.Consent(begun.AuthorizationUrl);
        var completed = await Service.CompleteAuthorization(new CompleteAuthorizationRequest { CallbackUrl = callback.ToString() }, Call());

        Assert.Equal(43, begun.State.Length);
        Assert.Equal(AuthorizationCore.RedirectUri, begun.RedirectUri);
        Assert.Equal(_core.Clock.GetUtcNow().AddMinutes(10), begun.ExpireTime.ToDateTimeOffset());
        var status = completed.Status;
        Assert.Equal(mailbox.Id, status.MailboxId);
        Assert.Equal(MailboxState.Active, status.State);
        Assert.Equal(CredentialKind.Delegated, status.CredentialKind);
        Assert.True(status.HasRefreshToken);
        Assert.Equal("alice@fast.test", status.Account);
        Assert.Equal(["openid", "email", "offline_access"], status.GrantedScopes);
        Assert.Equal(_core.Clock.GetUtcNow().AddHours(1), status.AccessTokenExpireTime.ToDateTimeOffset());
        Assert.Equal(_core.Clock.GetUtcNow(), status.LastRefreshTime.ToDateTimeOffset());
        Assert.Null(status.AccessEndTime);
        Assert.Equal(string.Empty, status.LastErrorReason);
    }

    [Fact]
    public async Task State_code_and_iss_given_separately_reach_the_manager_unchanged()
    {
        var mailbox = await _core.CreateOAuthMailboxAsync(Tenant);
        var begun = await Service.BeginAuthorization(new BeginAuthorizationRequest { MailboxId = mailbox.Id }, Call());
        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(_core.Provider.Consent(begun.AuthorizationUrl).Query);

        var completed = await Service.CompleteAuthorization(new CompleteAuthorizationRequest { State = query["state"].ToString(), Code = query["code"].ToString(), Iss = query["iss"].ToString() }, Call());

        Assert.Equal(MailboxState.Active, completed.Status.State);
    }

    [Fact]
    public async Task Status_password_and_revoke_map_their_results()
    {
        var password = await _core.CreatePasswordMailboxAsync(Tenant);
        var oauth = await _core.CreateOAuthMailboxAsync(Tenant);
        await _core.AuthorizeAsync(oauth);

        var set = await Service.SetMailboxPassword(new SetMailboxPasswordRequest { MailboxId = password.Id, Password = "app-password", SkipVerification = true }, Call());
        var status = await Service.GetAuthorizationStatus(new GetAuthorizationStatusRequest { MailboxId = password.Id }, Call());
        var revoked = await Service.RevokeAuthorization(new RevokeAuthorizationRequest { MailboxId = oauth.Id }, Call());

        Assert.Equal((MailboxState.Active, CredentialKind.Password), (set.Status.State, set.Status.CredentialKind));
        Assert.Equal(set.Status, status.Status);
        Assert.Null(status.Status.AccessTokenExpireTime);
        Assert.True(revoked.RevokedAtProvider);
        Assert.Equal((MailboxState.PendingAuthorization, CredentialKind.Unspecified), (revoked.Status.State, revoked.Status.CredentialKind));
    }

    [Fact]
    public async Task A_failure_leaves_the_edge_as_the_core_raised_it_and_maps_to_the_same_status()
    {
        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Service.GetAuthorizationStatus(new GetAuthorizationStatusRequest { MailboxId = "mbx-missing" }, Call()));

        var rpc = ExceptionMapper.ToRpcException(error);
        Assert.Equal(StatusCode.NotFound, rpc.StatusCode);
        Assert.Equal(ErrorReasons.MailboxNotFound, error.Reason);
    }

    [Fact]
    public async Task A_device_flow_the_provider_does_not_offer_fails_before_anything_is_written_to_the_stream()
    {
        var mailbox = await _core.CreateOAuthMailboxAsync(Tenant);
        var stream = new RecordingStreamWriter<StartDeviceAuthorizationResponse>();

        var thrown = await Assert.ThrowsAnyAsync<Exception>(() => Service.StartDeviceAuthorization(new StartDeviceAuthorizationRequest { MailboxId = mailbox.Id }, stream, Call()));

        // The provider layer's failure reaches the one mapper (as it did before the edge/core split).
        var error = ExceptionMapper.Classify(thrown, CancellationToken.None);
        Assert.Equal((ErrorKind.FailedPrecondition, ErrorReasons.DeviceFlowNotSupported), (error.Kind, error.Reason));
        Assert.Empty(stream.Written);
    }

    [Fact]
    public void Device_flow_events_become_the_prompt_then_the_completed_status()
    {
        var expires = new DateTimeOffset(2026, 1, 5, 9, 10, 0, TimeSpan.Zero);
        var prompt = new DeviceCodeShown("ABCD-EFGH", "https://idp.fast.test/device", null, expires).ToProto();
        var done = new DeviceAuthorizationCompleted(new MailboxAuthorization { MailboxId = "mbx-1", State = MailGrpc.Server.Mailboxes.MailboxState.Active, CredentialKind = StoredKind.Delegated, AccessEndsAt = expires }).ToProto();

        Assert.Equal(StartDeviceAuthorizationResponse.EventOneofCase.Prompt, prompt.EventCase);
        Assert.Equal(("ABCD-EFGH", "https://idp.fast.test/device", string.Empty), (prompt.Prompt.UserCode, prompt.Prompt.VerificationUri, prompt.Prompt.VerificationUriComplete));
        Assert.Equal(expires, prompt.Prompt.ExpireTime.ToDateTimeOffset());
        Assert.Equal(StartDeviceAuthorizationResponse.EventOneofCase.Completed, done.EventCase);
        Assert.Equal((CredentialKind.Delegated, expires), (done.Completed.CredentialKind, done.Completed.AccessEndTime.ToDateTimeOffset()));
    }

    [Theory]
    [InlineData(0, CredentialKind.Unspecified)]
    [InlineData(1, CredentialKind.Delegated)]
    [InlineData(2, CredentialKind.AppOnly)]
    [InlineData(3, CredentialKind.Password)]
    public void Every_stored_credential_kind_has_its_proto_value(int stored, CredentialKind proto)
    {
        Assert.True(Enum.IsDefined((StoredKind)stored));
        Assert.Equal(proto, ((StoredKind)stored).ToProto());
    }

    /// <summary>A server stream that records what the service wrote.</summary>
    private sealed class RecordingStreamWriter<T> : IServerStreamWriter<T>
    {
        public List<T> Written { get; } = [];

        public WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(T message)
        {
            Written.Add(message);
            return Task.CompletedTask;
        }
    }
}
