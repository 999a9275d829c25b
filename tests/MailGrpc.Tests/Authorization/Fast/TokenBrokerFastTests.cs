using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;

// Until Mailboxes.MailboxState (core, #12) replaces the proto enum on MailboxRecord; then this line goes.
using MailboxState = MailGrpc.Server.Mailboxes.MailboxState;

using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Authorization.Fast;

/// <summary>
/// The token broker without a rig: refresh when due, single-flight, rotation, reuse, transient retries and every cause
/// of REAUTHORIZATION_REQUIRED, against the embedded store and the in-process provider, on a fake clock.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class TokenBrokerFastTests : IAsyncDisposable
{
    private const string Tenant = "fast-broker";
    private readonly AuthorizationCore _core = new();

    public ValueTask DisposeAsync() => _core.DisposeAsync();

    private async Task<MailboxRecord> AuthorizedAsync()
    {
        var mailbox = await _core.CreateOAuthMailboxAsync(Tenant);
        await _core.AuthorizeAsync(mailbox);
        return await _core.ReloadAsync(mailbox);
    }

    /// <summary>Moves the clock past the access token's expiry (the refresh margin included).</summary>
    private void Expire() => _core.Clock.Advance(TimeSpan.FromSeconds(_core.Provider.AccessTokenLifetimeSeconds + 1));

    [Fact]
    public async Task A_fresh_token_is_handed_out_without_asking_the_provider()
    {
        var mailbox = await AuthorizedAsync();
        var stored = await _core.StoredAsync(mailbox);

        var credential = await _core.Broker.GetAsync(mailbox, CancellationToken.None);

        Assert.Equal(Pop3CredentialKind.AccessToken, credential.Kind);
        Assert.Equal(stored.AccessToken, credential.Secret);
        Assert.Equal(mailbox.Username, credential.Username);
        Assert.Equal(0, _core.Provider.GrantRequests("refresh_token"));
    }

    [Fact]
    public async Task A_due_token_is_refreshed_once_and_stored_before_it_is_handed_out()
    {
        var mailbox = await AuthorizedAsync();
        var before = await _core.StoredAsync(mailbox);
        Expire();

        var credential = await _core.Broker.GetAsync(mailbox, CancellationToken.None);

        var after = await _core.StoredAsync(mailbox);
        Assert.NotEqual(before.AccessToken, credential.Secret);
        Assert.Equal(after.AccessToken, credential.Secret);
        Assert.Equal(before.RefreshToken, after.RefreshToken); // not rotated: the old one is kept
        Assert.Equal(_core.Clock.GetUtcNow(), after.LastRefreshAt);
        Assert.True(credential.ExpiresAt > _core.Clock.GetUtcNow());
        Assert.Equal((1, 1), (_core.Provider.GrantRequests("refresh_token"), _core.Provider.GrantsOk("refresh_token")));
    }

    [Fact]
    public async Task Fifty_concurrent_callers_for_a_due_token_share_one_refresh()
    {
        var mailbox = await AuthorizedAsync();
        Expire();
        _core.Provider.TokenGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var callers = Enumerable.Range(0, 50).Select(_ => _core.Broker.GetAsync(mailbox, CancellationToken.None)).ToArray();
        _core.Provider.TokenGate.SetResult();
        var credentials = await Task.WhenAll(callers);

        Assert.Single(credentials.Select(c => c.Secret).Distinct());
        Assert.Equal(1, _core.Provider.GrantRequests("refresh_token"));
    }

    [Fact]
    public async Task A_rotated_refresh_token_is_stored_and_the_next_refresh_uses_it()
    {
        _core.Provider.RotateRefreshTokens = true;
        var mailbox = await AuthorizedAsync();
        var first = (await _core.StoredAsync(mailbox)).RefreshToken;

        Expire();
        await _core.Broker.GetAsync(mailbox, CancellationToken.None);
        var second = (await _core.StoredAsync(mailbox)).RefreshToken;
        Expire();
        await _core.Broker.GetAsync(mailbox, CancellationToken.None);
        var third = (await _core.StoredAsync(mailbox)).RefreshToken;

        Assert.NotNull(first);
        Assert.Equal(3, new[] { first, second, third }.Distinct().Count());
        Assert.Equal(0, _core.Provider.RevokedGrants); // never reused a rotated token
        Assert.Equal(2, _core.Provider.GrantsOk("refresh_token"));
        Assert.Equal(MailboxState.Active, (await _core.ReloadAsync(mailbox)).State);
    }

    [Fact]
    public async Task Reusing_a_rotated_refresh_token_kills_the_grant_and_requires_reauthorization_with_its_cause()
    {
        _core.Provider.RotateRefreshTokens = true;
        var mailbox = await AuthorizedAsync();
        var stale = await _core.Credentials.GetAsync(Tenant, mailbox.Id, CancellationToken.None);
        Expire();
        await _core.Broker.GetAsync(mailbox, CancellationToken.None);

        // A stale copy (a restored backup, a lost write) brings the rotated-away refresh token back.
        var current = await _core.Credentials.GetAsync(Tenant, mailbox.Id, CancellationToken.None);
        await _core.Credentials.PutAsync(Tenant, mailbox.Id, stale!.Credential, current!.Version, CancellationToken.None);
        Expire();
        var error = await Assert.ThrowsAsync<MailGrpcException>(() => _core.Broker.GetAsync(mailbox, CancellationToken.None));

        Assert.Equal(StatusCode.FailedPrecondition, ExceptionMapper.ToStatusCode(error.Kind));
        Assert.Equal(ErrorReasons.ReauthorizationRequired, error.Reason);
        Assert.Equal($"The provider refused the stored grant of mailbox '{mailbox.Id}' (invalid_grant: refresh token reuse detected); authorize it again.", error.Message);
        Assert.Equal(new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["cause"] = ErrorReasons.InvalidGrant, ["provider_error"] = "invalid_grant" }, error.Metadata);
        Assert.Equal(1, _core.Provider.RevokedGrants);
        var recorded = await _core.ReloadAsync(mailbox);
        Assert.Equal(MailboxState.ReauthorizationRequired, recorded.State);
        Assert.Equal(ErrorReasons.InvalidGrant, recorded.LastErrorReason);
        Assert.Equal("invalid_grant: refresh token reuse detected", recorded.LastErrorMessage);
    }

    [Fact]
    public async Task Once_recorded_reauthorization_is_answered_from_the_mailbox_without_asking_the_provider()
    {
        var mailbox = await AuthorizedAsync();
        _core.Provider.WithdrawConsent();
        Expire();
        await Assert.ThrowsAsync<MailGrpcException>(() => _core.Broker.GetAsync(mailbox, CancellationToken.None));
        var requests = _core.Provider.GrantRequests("refresh_token");

        var error = await Assert.ThrowsAsync<MailGrpcException>(async () => await _core.Broker.GetAsync(await _core.ReloadAsync(mailbox), CancellationToken.None));

        Assert.Equal(ErrorReasons.ReauthorizationRequired, error.Reason);
        Assert.Equal(ErrorKind.FailedPrecondition, error.Kind);
        Assert.Equal($"Mailbox '{mailbox.Id}' needs a new authorization (INVALID_GRANT).", error.Message);
        Assert.Equal(new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["cause"] = ErrorReasons.InvalidGrant }, error.Metadata);
        Assert.Equal(requests, _core.Provider.GrantRequests("refresh_token"));
    }

    [Fact]
    public async Task An_expired_token_without_a_refresh_token_requires_reauthorization_and_asks_no_provider()
    {
        await using var core = new AuthorizationCore(s => s[$"MailGrpc:OAuthClients:{AuthorizationCore.Client}:AllowAccessTokenOnly"] = "true");
        core.Provider.IssueRefreshTokens = false;
        var mailbox = await core.CreateOAuthMailboxAsync(Tenant);
        var status = await core.AuthorizeAsync(mailbox);
        Assert.False(status.HasRefreshToken);
        mailbox = await core.ReloadAsync(mailbox);
        core.Clock.Advance(TimeSpan.FromHours(2));

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => core.Broker.GetAsync(mailbox, CancellationToken.None));

        Assert.Equal(ErrorReasons.ReauthorizationRequired, error.Reason);
        Assert.Equal(ErrorKind.FailedPrecondition, error.Kind);
        Assert.StartsWith($"Mailbox '{mailbox.Id}': The access token expired and no refresh token is held (", error.Message, StringComparison.Ordinal);
        Assert.Equal(new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["cause"] = ErrorReasons.NoRefreshToken }, error.Metadata);
        Assert.Equal(0, core.Provider.GrantRequests("refresh_token"));
        Assert.Equal(ErrorReasons.NoRefreshToken, (await core.ReloadAsync(mailbox)).LastErrorReason);
    }

    [Fact]
    public async Task A_refusal_after_the_retry_requires_reauthorization_with_the_refusal_as_cause()
    {
        var mailbox = await AuthorizedAsync();

        var error = Assert.IsType<MailGrpcException>(await _core.Broker.GiveUpAfterRefusalAsync(mailbox, ErrorReasons.Pop3CredentialRefused, "The POP3 server refused the renewed token.", CancellationToken.None));

        Assert.Equal(ErrorReasons.ReauthorizationRequired, error.Reason);
        Assert.Equal(ErrorKind.FailedPrecondition, error.Kind);
        Assert.Equal($"Mailbox '{mailbox.Id}' needs a new authorization: The POP3 server refused the renewed token.", error.Message);
        Assert.Equal(new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["cause"] = ErrorReasons.Pop3CredentialRefused }, error.Metadata);
        var recorded = await _core.ReloadAsync(mailbox);
        Assert.Equal(MailboxState.ReauthorizationRequired, recorded.State);
        Assert.Equal("The POP3 server refused the renewed token.", recorded.LastErrorMessage);
    }

    [Fact]
    public async Task A_refused_password_requires_a_new_password_with_INVALID_PASSWORD_as_cause()
    {
        var mailbox = await _core.CreatePasswordMailboxAsync(Tenant);
        await _core.Manager.SetPasswordAsync(Tenant, new PasswordSubmission(mailbox.Id, "app-password-1", SkipVerification: true), CancellationToken.None);
        mailbox = await _core.ReloadAsync(mailbox);
        var credential = await _core.Broker.GetAsync(mailbox, CancellationToken.None);
        Assert.Equal(Pop3CredentialKind.Password, credential.Kind);

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => _core.Broker.RenewAfterRefusalAsync(mailbox, credential, CancellationToken.None));

        Assert.Equal(ErrorReasons.ReauthorizationRequired, error.Reason);
        Assert.Equal(new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["cause"] = ErrorReasons.InvalidPassword }, error.Metadata);
        Assert.Equal($"Mailbox '{mailbox.Id}' needs a new authorization: The POP3 server refused the stored password; set it again with SetMailboxPassword.", error.Message);
    }

    [Fact]
    public async Task A_refused_token_is_renewed_even_before_it_is_due_but_only_once()
    {
        var mailbox = await AuthorizedAsync();
        var refused = await _core.Broker.GetAsync(mailbox, CancellationToken.None);

        var renewed = await _core.Broker.RenewAfterRefusalAsync(mailbox, refused, CancellationToken.None);
        var again = await _core.Broker.RenewAfterRefusalAsync(mailbox, refused, CancellationToken.None);

        Assert.NotEqual(refused.Secret, renewed.Secret);
        Assert.Equal(renewed.Secret, again.Secret); // the stored token already differs from the refused one
        Assert.Equal(1, _core.Provider.GrantRequests("refresh_token"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Transient_provider_failures_are_retried_and_succeed_within_the_retries(bool drop)
    {
        var mailbox = await AuthorizedAsync();
        Expire();
        if (drop)
        {
            _core.Provider.DropNextTokenRequests(2);
        }
        else
        {
            _core.Provider.FailNextTokenRequests(2);
        }

        var credential = await _core.Broker.GetAsync(mailbox, CancellationToken.None);

        Assert.Equal((await _core.StoredAsync(mailbox)).AccessToken, credential.Secret);
        Assert.Equal((3, 1), (_core.Provider.GrantRequests("refresh_token"), _core.Provider.GrantsOk("refresh_token")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_outage_beyond_the_retries_is_unavailable_leaves_the_state_alone_and_heals(bool drop)
    {
        var mailbox = await AuthorizedAsync();
        Expire();
        if (drop)
        {
            _core.Provider.DropNextTokenRequests(3);
        }
        else
        {
            _core.Provider.FailNextTokenRequests(3);
        }

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => _core.Broker.GetAsync(mailbox, CancellationToken.None));

        Assert.Equal(StatusCode.Unavailable, ExceptionMapper.ToStatusCode(error.Kind));
        Assert.Equal(ErrorReasons.ProviderUnavailable, error.Reason);
        Assert.Equal(drop ? "provider_unreachable" : "http_503", error.Metadata["provider_error"]);
        Assert.Equal(3, _core.Provider.GrantRequests("refresh_token")); // one try + two retries
        Assert.Equal(MailboxState.Active, (await _core.ReloadAsync(mailbox)).State);

        var healed = await _core.Broker.GetAsync(mailbox, CancellationToken.None);
        Assert.True(healed.ExpiresAt > _core.Clock.GetUtcNow());
    }

    [Fact]
    public async Task During_an_outage_a_token_that_is_still_valid_is_used_and_the_refresh_deferred()
    {
        var mailbox = await AuthorizedAsync();
        var held = await _core.StoredAsync(mailbox);
        _core.Clock.Advance(TimeSpan.FromSeconds(_core.Provider.AccessTokenLifetimeSeconds) - TimeSpan.FromMinutes(2)); // inside the 5 min margin
        _core.Provider.FailNextTokenRequests(3);

        var credential = await _core.Broker.GetAsync(mailbox, CancellationToken.None);

        Assert.Equal(held.AccessToken, credential.Secret);
        Assert.Equal(3, _core.Provider.GrantRequests("refresh_token"));
        Assert.Equal(MailboxState.Active, (await _core.ReloadAsync(mailbox)).State);
    }

    [Fact]
    public async Task Another_replicas_refresh_is_waited_for_and_used_instead_of_refreshing_twice()
    {
        var mailbox = await AuthorizedAsync();
        Expire();
        var lockValue = "other-replica"u8.ToArray();
        Assert.True(await _core.Store.SetIfAbsentAsync(StoreKeys.RefreshLock(Tenant, mailbox.Id), lockValue, TimeSpan.FromMinutes(1), CancellationToken.None));

        var waiting = _core.Broker.GetAsync(mailbox, CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        // The other replica stores its refreshed token and lets go of the lock.
        var current = await _core.Credentials.GetAsync(Tenant, mailbox.Id, CancellationToken.None);
        var theirs = current!.Credential with { AccessToken = "at-from-the-other-replica", AccessTokenExpiresAt = _core.Clock.GetUtcNow().AddHours(1) };
        await _core.Credentials.PutAsync(Tenant, mailbox.Id, theirs, current.Version, CancellationToken.None);
        await _core.Store.DeleteIfEqualAsync(StoreKeys.RefreshLock(Tenant, mailbox.Id), lockValue, CancellationToken.None);
        // The waiter re-reads after each backoff on the (fake) clock: move it on until the waiter has its answer.
        await Eventually.WaitAsync(
            () =>
            {
                _core.Clock.Advance(TimeSpan.FromMilliseconds(250));
                return waiting.IsCompleted;
            },
            TimeSpan.FromSeconds(10),
            "the waiting caller to read the other replica's token");

        Assert.Equal("at-from-the-other-replica", (await waiting).Secret);
        Assert.Equal(0, _core.Provider.GrantRequests("refresh_token"));
    }

    [Fact]
    public async Task Without_a_stored_credential_the_mailbox_is_not_authorized_and_a_disabled_one_is_refused()
    {
        var mailbox = await _core.CreateOAuthMailboxAsync(Tenant);
        var password = await _core.CreatePasswordMailboxAsync(Tenant);

        var notAuthorized = await Assert.ThrowsAsync<MailGrpcException>(() => _core.Broker.GetAsync(mailbox, CancellationToken.None));
        var noPassword = await Assert.ThrowsAsync<MailGrpcException>(() => _core.Broker.GetAsync(password, CancellationToken.None));
        var disabled = await Assert.ThrowsAsync<MailGrpcException>(() => _core.Broker.GetAsync(mailbox with { State = MailboxState.Disabled }, CancellationToken.None));

        Assert.Equal((ErrorKind.FailedPrecondition, ErrorReasons.NotAuthorized), (notAuthorized.Kind, notAuthorized.Reason));
        Assert.Equal($"Mailbox '{mailbox.Id}' is not authorized; run an authorization flow first.", notAuthorized.Message);
        Assert.Equal($"Mailbox '{password.Id}' has no password; set one with SetMailboxPassword.", noPassword.Message);
        Assert.Equal((ErrorKind.FailedPrecondition, ErrorReasons.MailboxDisabled), (disabled.Kind, disabled.Reason));
    }
}
