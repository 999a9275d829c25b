using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using MailGrpc.Server.Callers;
using MailGrpc.Server.Errors;
using MailGrpc.Server.GrpcApi;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;
using Status = Google.Rpc.Status;

using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Mailboxes;

/// <summary>
/// The gRPC edge of the registry, called directly (grpc-dotnet's <c>TestServerCallContext</c> style) over the server's
/// own services with the embedded store: proto in, proto out, and each refusal as the status the caller would see.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class MailboxGrpcServiceTests : IAsyncDisposable
{
    private readonly CoreServices _core = new();

    private MailboxGrpcService Service => ActivatorUtilities.CreateInstance<MailboxGrpcService>(_core.Services);

    public ValueTask DisposeAsync() => _core.DisposeAsync();

    private static TestServerCallContext Call() => TestServerCallContext.ForTenant(CoreServices.Tenant);

    [Fact]
    public async Task Create_returns_the_resource_with_defaults_and_get_returns_the_same()
    {
        var created = (await Service.CreateMailbox(new CreateMailboxRequest { MailboxId = "alice", Mailbox = MailboxApiTests.PasswordMailbox() }, Call())).Mailbox;

        Assert.Equal("alice", created.MailboxId);
        Assert.Equal(Provider.Generic, created.Provider);
        Assert.Equal(new ServerSettings { Host = MailboxApiTests.PublicHost, Port = 995, Security = Security.ImplicitTls }, created.Server);
        Assert.Equal(AuthMethod.MethodOneofCase.Password, created.AuthMethod.MethodCase);
        Assert.Equal(MailboxState.PendingAuthorization, created.State);
        Assert.Equal(Timestamp.FromDateTimeOffset(_core.Clock.GetUtcNow()), created.CreateTime);
        Assert.NotEmpty(created.Etag);
        Assert.Equal(created, (await Service.GetMailbox(new GetMailboxRequest { MailboxId = "alice" }, Call())).Mailbox);
    }

    [Fact]
    public async Task An_oauth_mailbox_keeps_its_mechanism_and_an_update_through_a_field_mask_applies()
    {
        var request = new CreateMailboxRequest
        {
            MailboxId = "bearer",
            Mailbox = new Mailbox { Username = "b@corp.test", Server = new ServerSettings { Host = "pop.internal.test", Port = 110, Security = Security.Starttls }, AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "corp", Mechanism = SaslMechanism.Oauthbearer } } },
        };
        var created = (await Service.CreateMailbox(request, Call())).Mailbox;
        Assert.Equal(new OAuthAuth { Client = "corp", Mechanism = SaslMechanism.Oauthbearer }, created.AuthMethod.Oauth);
        Assert.Equal(Security.Starttls, created.Server.Security);

        var updated = (await Service.UpdateMailbox(new UpdateMailboxRequest
        {
            Mailbox = new Mailbox { MailboxId = "bearer", State = MailboxState.Disabled, Etag = created.Etag },
            UpdateMask = FieldMask.FromString("state"),
        }, Call())).Mailbox;
        Assert.Equal(MailboxState.Disabled, updated.State);

        var page = await Service.ListMailboxes(new ListMailboxesRequest(), Call());
        Assert.Equal([updated], page.Mailboxes);
        Assert.Empty(page.NextPageToken);
        Assert.False((await Service.DeleteMailbox(new DeleteMailboxRequest { MailboxId = "bearer", Etag = updated.Etag }, Call())).RevokedAtProvider);
    }

    [Fact]
    public async Task An_enum_value_the_server_does_not_know_is_invalid_argument_naming_the_field()
    {
        var mailbox = MailboxApiTests.PasswordMailbox();
        mailbox.Provider = (Provider)42;

        var status = await StatusOfAsync(() => Service.CreateMailbox(new CreateMailboxRequest { MailboxId = "future", Mailbox = mailbox }, Call()));

        Assert.Equal((int)StatusCode.InvalidArgument, status.Code);
        Assert.Equal("provider is not a known value.", status.Message);
        var info = status.GetDetail<ErrorInfo>();
        Assert.Equal((ErrorReasons.InvalidProvider, ErrorReasons.Domain, "mailbox.provider"), (info.Reason, info.Domain, info.Metadata["field"]));
    }

    [Fact]
    public async Task Diagnose_refuses_a_bad_id_before_any_work_and_an_unknown_mailbox_as_not_found()
    {
        var bad = await StatusOfAsync(() => Service.DiagnoseMailbox(new DiagnoseMailboxRequest { MailboxId = new string('x', 5000) }, Call()));
        Assert.Equal((int)StatusCode.InvalidArgument, bad.Code);
        Assert.Equal(ErrorReasons.InvalidMailboxId, bad.GetDetail<ErrorInfo>().Reason);
        Assert.DoesNotContain("xxxx", bad.Message, StringComparison.Ordinal);

        var missing = await StatusOfAsync(() => Service.DiagnoseMailbox(new DiagnoseMailboxRequest { MailboxId = "nobody" }, Call()));
        Assert.Equal((int)StatusCode.NotFound, missing.Code);
        Assert.Equal(ErrorReasons.MailboxNotFound, missing.GetDetail<ErrorInfo>().Reason);
        Assert.Equal("Mailbox 'nobody' does not exist.", missing.Message);
    }

    [Fact]
    public void Every_api_enum_value_maps_to_a_stored_one_and_back()
    {
        foreach (var value in System.Enum.GetValues<Provider>())
        {
            Assert.Equal(value, MailboxProtoMapper.ToProto(MailboxProtoMapper.ToDomain(value)!.Value));
        }

        foreach (var value in System.Enum.GetValues<Security>())
        {
            Assert.Equal(value, MailboxProtoMapper.ToProto(MailboxProtoMapper.ToDomain(value)!.Value));
        }

        foreach (var value in System.Enum.GetValues<SaslMechanism>())
        {
            Assert.Equal(value, MailboxProtoMapper.ToProto(MailboxProtoMapper.ToDomain(value)!.Value));
        }

        foreach (var value in System.Enum.GetValues<MailboxState>())
        {
            Assert.Equal(value, MailboxProtoMapper.ToProto(MailboxProtoMapper.ToDomain(value)!.Value));
        }
    }

    /// <summary>The <c>google.rpc.Status</c> the caller would get: the handler's exception through the one mapper.</summary>
    private static async Task<Status> StatusOfAsync(Func<Task> call)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(call);
        var rpc = ExceptionMapper.ToRpcException(error, CancellationToken.None);
        return Assert.IsType<Status>(rpc.GetRpcStatus());
    }
}
