using System.Text.Json;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using Microsoft.AspNetCore.WebUtilities;

// Until Mailboxes.MailboxState (core, #12) replaces the proto enum on MailboxRecord; then this line goes.
using MailboxState = MailGrpc.Server.Mailboxes.MailboxState;

namespace MailGrpc.Tests.Authorization.Fast;

/// <summary>
/// The authorization manager's rules without a rig: starting and completing the code flow, every check of the state,
/// RFC 9207 issuer checks, the identity check, and the input checks — in domain types, against the in-process provider.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class AuthorizationManagerFastTests : IAsyncDisposable
{
    private const string Tenant = "fast-manager";
    private readonly AuthorizationCore _core = new();

    public ValueTask DisposeAsync() => _core.DisposeAsync();

    private AuthorizationManager Manager => _core.Manager;

    private static CodeRedemption Callback(Uri callback) => new(string.Empty, string.Empty, string.Empty, callback.ToString());

    private async Task<(MailboxRecord Mailbox, AuthorizationLink Link)> BeginAsync(string username = "alice@fast.test")
    {
        var mailbox = await _core.CreateOAuthMailboxAsync(Tenant, username);
        var link = await Manager.BeginAsync(Tenant, mailbox.Id, string.Empty, string.Empty, CancellationToken.None);
        return (mailbox, link);
    }

    private async Task AssertNothingStoredAsync(MailboxRecord mailbox)
    {
        Assert.Null(await _core.Credentials.GetAsync(Tenant, mailbox.Id, CancellationToken.None));
        Assert.Equal(MailboxState.PendingAuthorization, (await _core.ReloadAsync(mailbox)).State);
    }

    [Fact]
    public async Task Begin_returns_a_PKCE_link_with_a_fresh_state_the_default_redirect_and_the_username_as_hint()
    {
        var (mailbox, link) = await BeginAsync();

        var query = QueryHelpers.ParseQuery(new Uri(link.AuthorizationUrl).Query);
        Assert.Equal(43, link.State.Length);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", link.State);
        Assert.Equal(link.State, query["state"].ToString());
        Assert.Equal(AuthorizationCore.RedirectUri, link.RedirectUri);
        Assert.Equal(AuthorizationCore.RedirectUri, query["redirect_uri"].ToString());
        Assert.Equal(mailbox.Username, query["login_hint"].ToString());
        Assert.Equal("S256", query["code_challenge_method"].ToString());
        Assert.Equal("consent", query["prompt"].ToString());
        Assert.Equal(_core.Clock.GetUtcNow().AddMinutes(10), link.ExpiresAt);
        Assert.NotEqual(link.State, (await Manager.BeginAsync(Tenant, mailbox.Id, string.Empty, string.Empty, CancellationToken.None)).State);
    }

    [Fact]
    public async Task Begin_refuses_a_redirect_uri_that_is_not_configured_and_a_bad_login_hint()
    {
        var mailbox = await _core.CreateOAuthMailboxAsync(Tenant);

        var redirect = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.BeginAsync(Tenant, mailbox.Id, AuthorizationCore.RedirectUri + "/", string.Empty, CancellationToken.None));
        var hint = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.BeginAsync(Tenant, mailbox.Id, string.Empty, "a\u0000b", CancellationToken.None));

        Assert.Equal((ErrorKind.InvalidArgument, ErrorReasons.RedirectUriNotAllowed, "redirect_uri"), (redirect.Kind, redirect.Reason, redirect.Metadata["field"]));
        Assert.Equal("redirect_uri is not one of the OAuth client 'fast''s configured RedirectUris.", redirect.Message);
        Assert.Equal((ErrorKind.InvalidArgument, ErrorReasons.InvalidArgument, "login_hint"), (hint.Kind, hint.Reason, hint.Metadata["field"]));
    }

    [Fact]
    public async Task Complete_stores_the_grant_and_answers_the_authorization_in_domain_terms()
    {
        var (mailbox, link) = await BeginAsync();

        var status = await Manager.CompleteAsync(Tenant, Callback(_core.Provider.Consent(link.AuthorizationUrl)), CancellationToken.None);

        Assert.Equal(mailbox.Id, status.MailboxId);
        Assert.Equal(MailboxState.Active, status.State);
        Assert.Equal(CredentialKind.Delegated, status.CredentialKind);
        Assert.True(status.HasRefreshToken);
        Assert.Null(status.AccessEndsAt);
        Assert.Equal("alice@fast.test", status.Account);
        Assert.Equal(["openid", "email", "offline_access"], status.GrantedScopes);
        Assert.Equal(_core.Clock.GetUtcNow().AddHours(1), status.AccessTokenExpiresAt);
        var stored = await _core.StoredAsync(mailbox);
        Assert.Equal(CredentialKind.Delegated, stored.Kind);
        Assert.Equal(AuthorizationCore.Client, stored.OAuthClient);
        Assert.Equal(1, _core.Provider.GrantsOk("authorization_code"));
    }

    [Fact]
    public async Task A_replayed_state_is_already_used_and_says_it_completed_with_which_account()
    {
        var (mailbox, link) = await BeginAsync();
        var callback = Callback(_core.Provider.Consent(link.AuthorizationUrl));
        await Manager.CompleteAsync(Tenant, callback, CancellationToken.None);

        var replay = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, callback, CancellationToken.None));

        Assert.Equal((ErrorKind.FailedPrecondition, ErrorReasons.StateAlreadyUsed), (replay.Kind, replay.Reason));
        Assert.Equal(new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["completed"] = "true", ["account"] = "alice@fast.test" }, replay.Metadata);
        Assert.Equal($"This authorization was already completed by account alice@fast.test; mailbox '{mailbox.Id}' is authorized. Nothing more to do.", replay.Message);
        Assert.Equal(1, _core.Provider.GrantRequests("authorization_code"));
    }

    [Fact]
    public async Task Another_tenants_state_is_refused_without_burning_it()
    {
        var (mailbox, link) = await BeginAsync();
        var callback = Callback(_core.Provider.Consent(link.AuthorizationUrl));

        var foreign = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync("another-tenant", callback, CancellationToken.None));
        var status = await Manager.CompleteAsync(Tenant, callback, CancellationToken.None);

        Assert.Equal((ErrorKind.PermissionDenied, ErrorReasons.StateTenantMismatch), (foreign.Kind, foreign.Reason));
        Assert.Equal(MailboxState.Active, status.State);
        Assert.Equal(mailbox.Id, status.MailboxId);
    }

    [Fact]
    public async Task An_expired_state_is_refused_and_stores_nothing()
    {
        var (mailbox, link) = await BeginAsync();
        var callback = Callback(_core.Provider.Consent(link.AuthorizationUrl));
        _core.Clock.Advance(TimeSpan.FromMinutes(10));

        var expired = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, callback, CancellationToken.None));

        Assert.Equal((ErrorKind.FailedPrecondition, ErrorReasons.StateExpired), (expired.Kind, expired.Reason));
        Assert.Equal(0, _core.Provider.GrantRequests("authorization_code"));
        await AssertNothingStoredAsync(mailbox);
    }

    [Theory]
    [InlineData("", "state", "The callback has no `state`: it must be the URL the provider redirected to, unchanged.")]
    [InlineData("short", "state", "The callback's `state` is malformed (MailGrpc's states are 43 URL-safe characters); the link was cut or altered.")]
    public async Task A_missing_or_malformed_state_is_an_invalid_callback_naming_the_field(string state, string field, string message)
    {
        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, new CodeRedemption(state, "code", string.Empty, string.Empty), CancellationToken.None));

        Assert.Equal((ErrorKind.InvalidArgument, ErrorReasons.InvalidCallback, field, message), (error.Kind, error.Reason, error.Metadata["field"], error.Message));
    }

    [Fact]
    public async Task An_unknown_state_is_not_found_and_a_callback_url_that_disagrees_is_refused()
    {
        var (_, link) = await BeginAsync();
        var callback = _core.Provider.Consent(link.AuthorizationUrl);

        var unknown = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, new CodeRedemption(new string('A', 43), "code", string.Empty, string.Empty), CancellationToken.None));
        var disagrees = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, new CodeRedemption(new string('B', 43), string.Empty, string.Empty, callback.ToString()), CancellationToken.None));
        var notUrl = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, new CodeRedemption(string.Empty, string.Empty, string.Empty, "ftp://x/"), CancellationToken.None));

        Assert.Equal((ErrorKind.NotFound, ErrorReasons.StateNotFound), (unknown.Kind, unknown.Reason));
        Assert.Equal((ErrorReasons.InvalidCallback, "callback_url"), (disagrees.Reason, disagrees.Metadata["field"]));
        Assert.Equal((ErrorReasons.InvalidCallback, "callback_url"), (notUrl.Reason, notUrl.Metadata["field"]));
    }

    [Fact]
    public async Task A_forged_issuer_is_refused_before_the_code_is_redeemed_and_stores_nothing()
    {
        var (mailbox, link) = await BeginAsync();
        _core.Provider.CallbackIss = "https://attacker.example";

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, Callback(_core.Provider.Consent(link.AuthorizationUrl)), CancellationToken.None));

        Assert.Equal((ErrorKind.PermissionDenied, ErrorReasons.IssuerMismatch), (error.Kind, error.Reason));
        Assert.Equal(new Dictionary<string, string> { ["oauth_client"] = AuthorizationCore.Client, ["expected_issuer"] = FakeOidcProvider.Issuer }, error.Metadata);
        Assert.DoesNotContain("attacker", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _core.Provider.GrantRequests("authorization_code"));
        await AssertNothingStoredAsync(mailbox);
    }

    [Fact]
    public async Task A_missing_issuer_is_refused_when_the_provider_always_sends_one()
    {
        var (mailbox, link) = await BeginAsync();
        _core.Provider.CallbackIss = null;

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, Callback(_core.Provider.Consent(link.AuthorizationUrl)), CancellationToken.None));

        Assert.Equal((ErrorKind.PermissionDenied, ErrorReasons.IssuerMissing), (error.Kind, error.Reason));
        Assert.Equal(FakeOidcProvider.Issuer, error.Metadata["expected_issuer"]);
        Assert.Equal(0, _core.Provider.GrantRequests("authorization_code"));
        await AssertNothingStoredAsync(mailbox);
    }

    [Fact]
    public async Task Consent_by_another_account_stores_nothing_revokes_the_grant_and_names_both_accounts()
    {
        var (mailbox, link) = await BeginAsync();
        _core.Provider.ConsentingAccount = "mallory@fast.test";

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, Callback(_core.Provider.Consent(link.AuthorizationUrl)), CancellationToken.None));

        Assert.Equal((ErrorKind.PermissionDenied, ErrorReasons.IdentityMismatch), (error.Kind, error.Reason));
        Assert.Equal("mallory@fast.test", error.Metadata["consented_account"]);
        Assert.Equal("alice@fast.test", error.Metadata["expected_account"]);
        Assert.Equal(1, _core.Provider.RevokedGrants);
        await AssertNothingStoredAsync(mailbox);
    }

    [Fact]
    public async Task A_grant_without_refresh_token_is_refused_loudly_unless_access_token_only_is_allowed()
    {
        _core.Provider.IssueRefreshTokens = false;
        var (mailbox, link) = await BeginAsync();

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, Callback(_core.Provider.Consent(link.AuthorizationUrl)), CancellationToken.None));

        Assert.Equal((ErrorKind.FailedPrecondition, ErrorReasons.RefreshTokenNotIssued), (error.Kind, error.Reason));
        Assert.Equal("openid email offline_access", error.Metadata["granted_scopes"]);
        Assert.Contains("AllowAccessTokenOnly=true", error.Message, StringComparison.Ordinal);
        await AssertNothingStoredAsync(mailbox);
    }

    [Fact]
    public async Task A_provider_refusal_in_the_callback_is_mapped_after_the_issuer_check()
    {
        var (mailbox, link) = await BeginAsync();
        var callback = new Uri($"{AuthorizationCore.RedirectUri}?error=access_denied&error_description=The+user+declined&state={link.State}&iss={Uri.EscapeDataString(FakeOidcProvider.Issuer)}");

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, Callback(callback), CancellationToken.None));

        Assert.Equal((ErrorKind.FailedPrecondition, ErrorReasons.AccessDenied), (error.Kind, error.Reason));
        Assert.Equal("The person declined the authorization (access_denied: The user declined).", error.Message);
        Assert.Equal("access_denied", error.Metadata["provider_error"]);
        await AssertNothingStoredAsync(mailbox);
    }

    [Fact]
    public async Task A_provider_outage_at_redemption_is_unavailable_and_the_same_callback_works_once_it_is_back()
    {
        var (_, link) = await BeginAsync();
        var callback = Callback(_core.Provider.Consent(link.AuthorizationUrl));
        _core.Provider.FailNextTokenRequests(1); // a code is redeemed once, without retries: the person retries the callback

        var outage = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.CompleteAsync(Tenant, callback, CancellationToken.None));
        var status = await Manager.CompleteAsync(Tenant, callback, CancellationToken.None);

        Assert.Equal((ErrorKind.Unavailable, ErrorReasons.ProviderUnavailable), (outage.Kind, outage.Reason));
        Assert.Equal(MailboxState.Active, status.State);
    }

    [Fact]
    public async Task Password_and_refresh_token_input_is_checked_before_anything_is_written()
    {
        var oauth = await _core.CreateOAuthMailboxAsync(Tenant);
        var password = await _core.CreatePasswordMailboxAsync(Tenant);

        var notPassword = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.SetPasswordAsync(Tenant, new PasswordSubmission(oauth.Id, "secret", true), CancellationToken.None));
        var empty = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.SetPasswordAsync(Tenant, new PasswordSubmission(password.Id, string.Empty, true), CancellationToken.None));
        var badToken = await Assert.ThrowsAsync<MailGrpcException>(() => Manager.ImportRefreshTokenAsync(Tenant, oauth.Id, "has white space", CancellationToken.None));

        Assert.Equal((ErrorKind.FailedPrecondition, ErrorReasons.NotPasswordMailbox), (notPassword.Kind, notPassword.Reason));
        Assert.Equal((ErrorKind.InvalidArgument, ErrorReasons.InvalidPassword, "password"), (empty.Kind, empty.Reason, empty.Metadata["field"]));
        Assert.Equal((ErrorKind.InvalidArgument, ErrorReasons.InvalidRefreshToken, "refresh_token"), (badToken.Kind, badToken.Reason, badToken.Metadata["field"]));
        Assert.Null(await _core.Credentials.GetAsync(Tenant, password.Id, CancellationToken.None));
        Assert.Null(await _core.Credentials.GetAsync(Tenant, oauth.Id, CancellationToken.None));
    }

    [Fact]
    public async Task A_password_without_verification_is_stored_and_reported_without_token_fields()
    {
        var mailbox = await _core.CreatePasswordMailboxAsync(Tenant);

        var status = await Manager.SetPasswordAsync(Tenant, new PasswordSubmission(mailbox.Id, "app-password", SkipVerification: true), CancellationToken.None);

        Assert.Equal((MailboxState.Active, CredentialKind.Password), (status.State, status.CredentialKind));
        Assert.Null(status.AccessTokenExpiresAt);
        Assert.Null(status.Account); // not verified, so no account is claimed
        Assert.Empty(status.GrantedScopes);
        Assert.Equal("app-password", (await _core.StoredAsync(mailbox)).Password);
    }

    [Fact]
    public async Task Revoke_revokes_at_the_provider_forgets_the_tokens_and_waits_for_a_new_authorization()
    {
        var mailbox = await _core.CreateOAuthMailboxAsync(Tenant);
        await _core.AuthorizeAsync(mailbox);

        var revoked = await Manager.RevokeAsync(Tenant, mailbox.Id, CancellationToken.None);

        Assert.True(revoked.RevokedAtProvider);
        Assert.Equal(1, _core.Provider.RevokedGrants);
        Assert.Equal((MailboxState.PendingAuthorization, CredentialKind.Unspecified), (revoked.Status.State, revoked.Status.CredentialKind));
        Assert.Null(await _core.Credentials.GetAsync(Tenant, mailbox.Id, CancellationToken.None));
    }

    [Fact]
    public void Stored_credential_kinds_keep_the_names_they_were_stored_with_whatever_the_proto_calls_them()
    {
        // Written by the build that persisted the proto enum (its C# names), read by this one; and written back the same.
        foreach (var (stored, kind) in new[] { ("Delegated", CredentialKind.Delegated), ("AppOnly", CredentialKind.AppOnly), ("Password", CredentialKind.Password) })
        {
            var json = $$"""{"Kind":"{{stored}}","StoredAt":"2026-01-05T09:00:00+00:00"}""";
            var credential = JsonSerializer.Deserialize(json, SecretsJsonContext.Default.StoredCredential)!;
            Assert.Equal(kind, credential.Kind);
            Assert.Contains($"\"Kind\":\"{stored}\"", JsonSerializer.Serialize(credential, SecretsJsonContext.Default.StoredCredential), StringComparison.Ordinal);
        }
    }
}
