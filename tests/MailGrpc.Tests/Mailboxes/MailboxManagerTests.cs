using System.Text;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;

namespace MailGrpc.Tests.Mailboxes;

/// <summary>
/// The mailbox registry's rules on domain types, with the embedded store and no gRPC: defaults and presets, every
/// refusal's kind, reason, field and message, and that a refused request writes nothing.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class MailboxManagerTests : IAsyncDisposable
{
    private const string Tenant = CoreServices.Tenant;
    private const string PublicHost = MailboxApiTests.PublicHost;

    private readonly CoreServices _core = new();

    private MailboxManager Manager => _core.Get<MailboxManager>();

    private static MailboxSpec Password(string username = "alice@example.com") => new()
    {
        Username = username,
        DisplayName = "Alice",
        Server = new ServerSpec(PublicHost, null, Pop3Security.ImplicitTls),
        AuthMethod = new PasswordAuthSpec(),
    };

    public ValueTask DisposeAsync() => _core.DisposeAsync();

    [Fact]
    public async Task A_password_mailbox_gets_the_generic_provider_the_tls_port_and_waits_for_authorization()
    {
        var created = await Manager.CreateAsync(Tenant, new NewMailbox("alice", Password()), default);

        Assert.Equal("alice", created.Id);
        Assert.Equal(MailboxProvider.Generic, created.Provider);
        Assert.Equal((PublicHost, 995, Pop3Security.ImplicitTls), (created.Host, created.Port, created.Security));
        Assert.Equal(MailboxAuthKind.Password, created.AuthKind);
        Assert.Equal(OAuthMechanism.Unspecified, created.Mechanism);
        Assert.Equal(MailboxState.PendingAuthorization, created.State);
        Assert.Equal(_core.Clock.GetUtcNow(), created.CreatedAt);
        Assert.NotEmpty(created.Etag);
        Assert.Equal(created, await Manager.GetAsync(Tenant, "alice", default));
    }

    [Fact]
    public async Task An_oauth_mailbox_takes_its_clients_provider_preset_and_xoauth2_by_default()
    {
        var spec = new MailboxSpec { Username = "bob@contoso.test", AuthMethod = new OAuthAuthSpec("m365", OAuthMechanism.Unspecified) };

        var created = await Manager.CreateAsync(Tenant, new NewMailbox(string.Empty, spec), default);

        Assert.StartsWith("mbx-", created.Id, StringComparison.Ordinal);
        Assert.Equal(MailboxProvider.Microsoft, created.Provider);
        Assert.Equal(("outlook.office365.com", 995, Pop3Security.ImplicitTls), (created.Host, created.Port, created.Security));
        Assert.Equal((MailboxAuthKind.OAuth, "m365", OAuthMechanism.Xoauth2), (created.AuthKind, created.OAuthClient, created.Mechanism));
    }

    // Keyed by name: the domain types are internal, so they cannot be a public test method's parameters.
    private static readonly Dictionary<string, (MailboxSpec? Spec, string Reason, string Field, string Message)> Refusals = new()
    {
        ["no-mailbox"] = (null, ErrorReasons.InvalidArgument, "mailbox", "mailbox is required."),
        ["Bad_Id"] = (Password(), ErrorReasons.InvalidMailboxId, "mailbox_id", "mailbox_id must be 1-63 characters of a-z, 0-9 and '-', starting with a letter."),
        ["no-auth"] = (Password() with { AuthMethod = null }, ErrorReasons.AuthMethodRequired, "mailbox.auth_method", "auth_method is required: oauth (with a configured client name) or password."),
        ["unknown-client"] = (Password() with { AuthMethod = new OAuthAuthSpec("nope", OAuthMechanism.Xoauth2) }, ErrorReasons.UnknownOAuthClient, "mailbox.auth_method.oauth.client", "auth_method.oauth.client must name an OAuth client configured on the server (MailGrpc:OAuthClients:<name>)."),
        ["unknown-mechanism"] = (Password() with { AuthMethod = new OAuthAuthSpec("corp", null) }, ErrorReasons.InvalidArgument, "mailbox.auth_method.oauth.mechanism", "auth_method.oauth.mechanism is not a known value."),
        ["unknown-provider"] = (Password() with { Provider = null }, ErrorReasons.InvalidProvider, "mailbox.provider", "provider is not a known value."),
        ["provider-mismatch"] = (Password() with { Provider = MailboxProvider.Google, AuthMethod = new OAuthAuthSpec("m365", OAuthMechanism.Xoauth2) }, ErrorReasons.InvalidProvider, "mailbox.provider", "provider Google does not match the OAuth client's provider Microsoft."),
        ["no-server"] = (Password() with { Server = null }, ErrorReasons.ServerRequired, "mailbox.server", "server is required for generic providers and password mailboxes without a provider preset."),
        ["unknown-security"] = (Password() with { Server = new ServerSpec(PublicHost, null, null) }, ErrorReasons.InvalidSecurity, "mailbox.server.security", "server.security is not a known value."),
        ["bad-port"] = (Password() with { Server = new ServerSpec(PublicHost, 70000, Pop3Security.Starttls) }, ErrorReasons.InvalidPort, "mailbox.server.port", "server.port must be between 1 and 65535."),
        ["bad-host"] = (Password() with { Server = new ServerSpec("exa mple", null, Pop3Security.Starttls) }, ErrorReasons.InvalidHost, "mailbox.server.host", "server.host must be a DNS name (IDNA allowed) or an IP address."),
        ["bad-username"] = (Password(" spaced"), ErrorReasons.InvalidUsername, "mailbox.username", "username is required: 1-320 characters without white space or control characters."),
        ["bad-display-name"] = (Password() with { DisplayName = "line\nbreak" }, ErrorReasons.InvalidDisplayName, "mailbox.display_name", "display_name must be at most 200 characters without control characters."),
    };

    public static TheoryData<string> RefusedIds => new(Refusals.Keys);

    [Theory]
    [MemberData(nameof(RefusedIds))]
    public async Task A_refused_create_names_its_field_and_writes_nothing(string id)
    {
        var (spec, reason, field, message) = Refusals[id];
        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CreateAsync(Tenant, new NewMailbox(id, spec), default));

        Assert.Equal((ErrorKind.InvalidArgument, reason, message), (error.Kind, error.Reason, error.Message));
        Assert.Equal(field, error.Metadata[Failures.FieldKey]);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task A_private_host_is_refused_with_the_host_named_and_nothing_written()
    {
        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CreateAsync(Tenant, new NewMailbox("private", Password() with { Server = new ServerSpec("10.1.2.3", null, Pop3Security.ImplicitTls) }), default));

        Assert.Equal((ErrorKind.PermissionDenied, ErrorReasons.HostNotAllowed), (error.Kind, error.Reason));
        Assert.Equal("10.1.2.3", error.Metadata["host"]);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task Another_registration_under_a_taken_id_is_refused_and_a_retry_of_the_same_one_is_not()
    {
        var created = await Manager.CreateAsync(Tenant, new NewMailbox("taken", Password()), default);

        Assert.Equal(created, await Manager.CreateAsync(Tenant, new NewMailbox("taken", Password()), default));
        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CreateAsync(Tenant, new NewMailbox("taken", Password("mallory@example.com")), default));
        Assert.Equal((ErrorKind.AlreadyExists, ErrorReasons.MailboxAlreadyExists, "Mailbox 'taken' already exists."), (error.Kind, error.Reason, error.Message));
    }

    [Fact]
    public async Task Pages_follow_ids_and_a_token_only_continues_its_own_tenants_listing()
    {
        foreach (var id in new[] { "m1", "m2", "m3", "m4", "m5" })
        {
            await Manager.CreateAsync(Tenant, new NewMailbox(id, Password()), default);
        }

        var first = await Manager.ListAsync(Tenant, 2, string.Empty, default);
        var second = await Manager.ListAsync(Tenant, 2, first.NextPageToken, default);
        var last = await Manager.ListAsync(Tenant, 2, second.NextPageToken, default);

        Assert.Equal(["m1", "m2", "m3", "m4", "m5"], first.Mailboxes.Concat(second.Mailboxes).Concat(last.Mailboxes).Select(m => m.Id));
        Assert.Empty(last.NextPageToken);

        var negative = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.ListAsync(Tenant, -1, string.Empty, default));
        Assert.Equal((ErrorKind.InvalidArgument, ErrorReasons.InvalidPageSize, "page_size"), (negative.Kind, negative.Reason, negative.Metadata[Failures.FieldKey]));
        var foreign = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.ListAsync("other-tenant", 2, first.NextPageToken, default));
        Assert.Equal((ErrorKind.InvalidArgument, ErrorReasons.InvalidPageToken, "page_token"), (foreign.Kind, foreign.Reason, foreign.Metadata[Failures.FieldKey]));
    }

    [Fact]
    public async Task An_update_takes_only_the_masked_fields_and_refuses_a_stale_etag()
    {
        var created = await Manager.CreateAsync(Tenant, new NewMailbox("upd", Password()), default);
        var change = Password("ignored@example.com") with { MailboxId = "upd", DisplayName = "Alice L.", Server = new ServerSpec(string.Empty, 1995, Pop3Security.ImplicitTls), Etag = created.Etag };

        var updated = await Manager.UpdateAsync(Tenant, new MailboxChange(change, ["display_name", "server.port"]), default);

        Assert.Equal(("Alice L.", 1995, "alice@example.com", PublicHost), (updated.DisplayName, updated.Port, updated.Username, updated.Host));
        Assert.NotEqual(created.Etag, updated.Etag);
        var stale = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.UpdateAsync(Tenant, new MailboxChange(change, ["display_name"]), default));
        Assert.Equal((ErrorKind.Aborted, ErrorReasons.EtagMismatch, "The mailbox was changed since this etag was read; read it again and retry."), (stale.Kind, stale.Reason, stale.Message));

        var mask = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.UpdateAsync(Tenant, new MailboxChange(change with { Etag = string.Empty }, ["password"]), default));
        Assert.Equal(ErrorReasons.InvalidUpdateMask, mask.Reason);
        Assert.Equal("update_mask is required and may name only: auth_method, display_name, provider, retention, retention.delete_after, retention.mode, retention.required_consumers, server, server.host, server.port, server.security, state, sync, sync.enabled, sync.interval, username.", mask.Message);
    }

    [Fact]
    public async Task State_goes_to_disabled_and_back_to_pending_without_a_credential_but_never_straight_to_active()
    {
        await Manager.CreateAsync(Tenant, new NewMailbox("st", Password()), default);
        MailboxChange To(MailboxState? state) => new(new MailboxSpec { MailboxId = "st", State = state }, ["state"]);

        var refused = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.UpdateAsync(Tenant, To(MailboxState.Active), default));
        Assert.Equal((ErrorReasons.InvalidStateTransition, "mailbox.state"), (refused.Reason, refused.Metadata[Failures.FieldKey]));

        Assert.Equal(MailboxState.Disabled, (await Manager.UpdateAsync(Tenant, To(MailboxState.Disabled), default)).State);
        var unknown = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.UpdateAsync(Tenant, To(null), default));
        Assert.Equal(ErrorReasons.InvalidStateTransition, unknown.Reason);
        Assert.Equal(MailboxState.PendingAuthorization, (await Manager.UpdateAsync(Tenant, To(MailboxState.Active), default)).State);
    }

    [Fact]
    public async Task A_deleted_mailbox_is_gone_and_says_which_one()
    {
        await Manager.CreateAsync(Tenant, new NewMailbox("gone", Password()), default);

        Assert.False(await Manager.DeleteAsync(Tenant, "gone", string.Empty, default));

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.GetAsync(Tenant, "gone", default));
        Assert.Equal((ErrorKind.NotFound, ErrorReasons.MailboxNotFound, "Mailbox 'gone' does not exist."), (error.Kind, error.Reason, error.Message));
        Assert.Equal("gone", error.Metadata["mailbox_id"]);
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task The_stored_document_holds_the_projects_enum_names()
    {
        await Manager.CreateAsync(Tenant, new NewMailbox("doc", Password() with { Server = new ServerSpec(PublicHost, 110, Pop3Security.Starttls) }), default);

        var stored = await _core.Store.GetVersionedAsync(StoreKeys.Mailbox(Tenant, "doc"), default);

        Assert.NotNull(stored);
        var json = Encoding.UTF8.GetString(stored.Value.Value);
        Assert.Contains("\"Provider\":\"Generic\"", json, StringComparison.Ordinal);
        Assert.Contains("\"Security\":\"Starttls\"", json, StringComparison.Ordinal);
        Assert.Contains("\"AuthKind\":\"Password\"", json, StringComparison.Ordinal);
        Assert.Contains("\"State\":\"PendingAuthorization\"", json, StringComparison.Ordinal);
    }

    private async Task AssertNothingStoredAsync()
    {
        Assert.Empty(await _core.Store.IndexRangeAsync(StoreKeys.TenantMailboxes(Tenant), null, 10, default));
    }
}
