using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using MailGrpc.Server.Authorization.Broker;
using MailGrpc.Server.Authorization.Flows;
using MailGrpc.Server.Authorization.Providers;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Telemetry;
using MailGrpc.V1;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Authorization;

/// <summary>
/// The rules of every AuthorizationService RPC. Input is checked before anything is written; a flow that fails stores
/// nothing; a secret never appears in a result, an error message or a log line.
/// </summary>
internal sealed partial class AuthorizationManager(
    MailboxRepository mailboxes,
    CredentialStore credentials,
    PendingAuthorizations pending,
    OAuthClientRegistry clients,
    TokenBroker broker,
    MailboxStateRecorder states,
    IOptions<TokenOptions> options,
    TimeProvider time,
    MailGrpcMetrics metrics,
    Pop3.Pop3SessionFactory pop3,
    ILogger<AuthorizationManager> logger)
{
    public const int MaxPasswordLength = 1024;
    public const int MaxRefreshTokenLength = 8192;

    public async Task<BeginAuthorizationResponse> BeginAsync(string tenant, BeginAuthorizationRequest request, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, request.MailboxId, cancellationToken);
        var (client, provider) = clients.For(mailbox);
        var redirectUri = ChooseRedirectUri(client, request.RedirectUri);
        if (request.LoginHint.Length > MailboxValidator.MaxUsernameLength || request.LoginHint.Any(char.IsControl))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidArgument, "login_hint", $"login_hint must be at most {MailboxValidator.MaxUsernameLength} characters without control characters.");
        }

        var loginHint = string.IsNullOrEmpty(request.LoginHint) ? mailbox.Username : request.LoginHint;
        var state = Base64Url(RandomNumberGenerator.GetBytes(32));
        var url = await provider.CreateAuthorizationUrlAsync(client, mailbox, redirectUri, state, loginHint, cancellationToken);
        var expiresAt = time.GetUtcNow() + options.Value.PendingAuthorizationLifetime;
        await pending.StartAsync(state, new PendingAuthorization
        {
            Tenant = tenant,
            MailboxId = mailbox.Id,
            OAuthClient = client.Name,
            RedirectUri = redirectUri,
            CodeVerifier = url.CodeVerifier,
            ExpiresAt = expiresAt,
        }, cancellationToken);
        LogBegun(logger, tenant, mailbox.Id, client.Name);
        return new BeginAuthorizationResponse
        {
            AuthorizationUrl = url.Url,
            State = state,
            ExpireTime = Timestamp.FromDateTimeOffset(expiresAt),
            RedirectUri = redirectUri,
        };
    }

    /// <summary>
    /// Redeems a code. <paramref name="tenant"/> is the caller's tenant for the RPC, or null for the browser callback (the
    /// state itself is the proof there: it is 256 random bits and single use).
    /// </summary>
    public async Task<AuthorizationStatus> CompleteAsync(string? tenant, string state, string code, string iss, string callbackUrl, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(callbackUrl))
        {
            return (await CompleteAsync(tenant, new CallbackValues(state, code, NullIfEmpty(iss), null, null), cancellationToken)).Status;
        }

        var parsed = ParseCallback(callbackUrl);
        if ((!string.IsNullOrEmpty(state) && state != parsed.State) || (!string.IsNullOrEmpty(code) && code != parsed.Code) || (!string.IsNullOrEmpty(iss) && iss != parsed.Iss))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidCallback, "callback_url", "callback_url disagrees with the state, code or iss given beside it.");
        }

        return (await CompleteAsync(tenant, parsed, cancellationToken)).Status;
    }

    /// <summary>Redeems the values of a callback; <see cref="CallbackValues.Error"/> is the callback's <c>error</c> parameter.</summary>
    public async Task<CompletedAuthorization> CompleteAsync(string? tenant, CallbackValues callback, CancellationToken cancellationToken)
    {
        var (state, code, iss, providerError, providerErrorDescription) = callback;
        if (string.IsNullOrEmpty(state))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidCallback, "state", providerError is null
                ? "The callback has no `state`: it must be the URL the provider redirected to, unchanged."
                : "The provider answered with an error but without the `state` MailGrpc sent, so it cannot be matched to an authorization.");
        }

        if (!StatePattern().IsMatch(state))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidCallback, "state", "The callback's `state` is malformed (MailGrpc's states are 43 URL-safe characters); the link was cut or altered.");
        }

        var found = await pending.PeekAsync(state, cancellationToken)
            ?? throw MailGrpcException.NotFound(ErrorReasons.StateNotFound, "No authorization was started with this state.");
        if (tenant is not null && found.Tenant != tenant)
        {
            // Checked before the state is consumed, so another tenant cannot burn someone's flow.
            throw MailGrpcException.PermissionDenied(ErrorReasons.StateTenantMismatch, "This state belongs to another tenant.");
        }

        if (found.UsedAt is not null)
        {
            throw AlreadyUsed(found);
        }

        if (found.ExpiresAt <= time.GetUtcNow())
        {
            throw MailGrpcException.FailedPrecondition(ErrorReasons.StateExpired, "This authorization expired; start a new one.");
        }

        var taken = await pending.TakeAsync(state, cancellationToken)
            ?? throw AlreadyUsed(await pending.PeekAsync(state, cancellationToken) ?? found);
        var mailbox = await mailboxes.GetAsync(taken.Tenant, taken.MailboxId, cancellationToken)
            ?? throw MailGrpcException.MailboxNotFound(taken.MailboxId);
        if (mailbox.OAuthClient != taken.OAuthClient)
        {
            throw MailGrpcException.FailedPrecondition(ErrorReasons.NotOAuthMailbox, "The mailbox's OAuth client changed since the authorization started; start a new one.");
        }

        var (client, provider) = clients.For(mailbox);
        TokenGrant grant;
        try
        {
            // RFC 9207 / RFC 9700 §4.4: the response must come from this client's provider, error responses included;
            // checked before the code goes anywhere.
            await CheckIssuerAsync(client, provider, iss, cancellationToken);
            if (providerError is not null)
            {
                throw OAuthErrorMapping.Map(new OAuthProviderException(OAuthProviderException.KindOf(providerError) is OAuthFailureKind.AccessDenied ? OAuthFailureKind.AccessDenied : OAuthFailureKind.Other, providerError, providerErrorDescription));
            }

            if (string.IsNullOrEmpty(code) || code.Length > 4096 || code.Any(char.IsControl))
            {
                throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidCallback, "code", "The callback has no valid `code`: it must be the URL the provider redirected to, unchanged.");
            }

            grant = await provider.RedeemCodeAsync(client, mailbox, code, taken.CodeVerifier, taken.RedirectUri, cancellationToken);
        }
        catch (OAuthProviderException ex)
        {
            if (ex.Kind == OAuthFailureKind.Transient)
            {
                // The code never reached the provider (or its answer was lost): let the person retry the same callback.
                await pending.RestoreAsync(state, taken, CancellationToken.None);
            }

            throw OAuthErrorMapping.Map(ex);
        }

        var status = await StoreGrantAsync(mailbox, client, provider, grant, CredentialKind.Delegated, cancellationToken);
        await pending.MarkCompletedAsync(state, status.Account, CancellationToken.None);
        return new CompletedAuthorization(status, mailbox);
    }

    private static async Task CheckIssuerAsync(OAuthClient client, IOAuthProvider provider, string? iss, CancellationToken cancellationToken)
    {
        var expected = await provider.CallbackIssuerAsync(client, cancellationToken);
        if (iss is not null)
        {
            var matches = expected is null
                ? client.Options.Authority is { Length: > 0 } authority && string.Equals(iss.TrimEnd('/'), authority.TrimEnd('/'), StringComparison.Ordinal)
                  || client.Options.Provider == OAuthProviderKind.Microsoft && Uri.TryCreate(iss, UriKind.Absolute, out var u) && u.Host.EndsWith(".microsoftonline.com", StringComparison.OrdinalIgnoreCase)
                : string.Equals(iss, expected.Issuer, StringComparison.Ordinal);
            if (!matches)
            {
                // The received value is not echoed: it is attacker-controlled.
                throw new MailGrpcException(
                    ErrorKind.PermissionDenied,
                    ErrorReasons.IssuerMismatch,
                    $"The authorization response names another issuer than OAuth client '{client.Name}''s provider{(expected is null ? string.Empty : $" ({expected.Issuer})")}: it may come from another provider (mix-up, RFC 9207). Nothing was stored; start a new authorization.",
                    new Dictionary<string, string> { ["oauth_client"] = client.Name, ["expected_issuer"] = expected?.Issuer ?? string.Empty });
            }
        }
        else if (expected is { Required: true })
        {
            throw new MailGrpcException(
                ErrorKind.PermissionDenied,
                ErrorReasons.IssuerMissing,
                $"The authorization response has no `iss`, but the provider ({expected.Issuer}) always sends one (RFC 9207): pass the whole callback URL, or `iss` beside state and code. Nothing was stored; start a new authorization.",
                new Dictionary<string, string> { ["oauth_client"] = client.Name, ["expected_issuer"] = expected.Issuer });
        }
    }

    private static MailGrpcException AlreadyUsed(PendingAuthorization found) => found.CompletedAt is not null
        ? new MailGrpcException(
            ErrorKind.FailedPrecondition,
            ErrorReasons.StateAlreadyUsed,
            $"This authorization was already completed{(string.IsNullOrEmpty(found.Account) ? string.Empty : $" by account {found.Account}")}; mailbox '{found.MailboxId}' is authorized. Nothing more to do.",
            new Dictionary<string, string> { ["mailbox_id"] = found.MailboxId, ["completed"] = "true", ["account"] = found.Account ?? string.Empty })
        : new MailGrpcException(
            ErrorKind.FailedPrecondition,
            ErrorReasons.StateAlreadyUsed,
            $"This authorization link was already used and did not complete; the application that sent it must start a new authorization for mailbox '{found.MailboxId}'.",
            new Dictionary<string, string> { ["mailbox_id"] = found.MailboxId, ["completed"] = "false" });

    public async Task StartDeviceAsync(string tenant, StartDeviceAuthorizationRequest request, IServerStreamWriter<StartDeviceAuthorizationResponse> stream, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, request.MailboxId, cancellationToken);
        var (client, provider) = clients.For(mailbox);
        var device = await provider.StartDeviceAuthorizationAsync(client, mailbox, cancellationToken);
        await stream.WriteAsync(new StartDeviceAuthorizationResponse
        {
            Prompt = new DeviceCodePrompt
            {
                UserCode = device.UserCode,
                VerificationUri = device.VerificationUri,
                VerificationUriComplete = device.VerificationUriComplete ?? string.Empty,
                ExpireTime = Timestamp.FromDateTimeOffset(device.ExpiresAt),
            },
        }, cancellationToken);

        var interval = device.Interval;
        while (true)
        {
            if (time.GetUtcNow() >= device.ExpiresAt)
            {
                throw OAuthErrorMapping.Map(new OAuthProviderException(OAuthFailureKind.DeviceCodeExpired, "expired_token", "The device code expired before it was approved."));
            }

            await Task.Delay(interval, time, cancellationToken);
            TokenGrant? grant;
            try
            {
                grant = await provider.PollDeviceAuthorizationAsync(client, mailbox, device, cancellationToken);
            }
            catch (OAuthProviderException ex) when (ex.Error == "slow_down")
            {
                interval += TimeSpan.FromSeconds(5);
                continue;
            }

            if (grant is null)
            {
                continue;
            }

            var current = await mailboxes.GetRequiredAsync(tenant, mailbox.Id, cancellationToken);
            var status = await StoreGrantAsync(current, client, provider, grant, CredentialKind.Delegated, cancellationToken);
            await stream.WriteAsync(new StartDeviceAuthorizationResponse { Completed = status }, cancellationToken);
            return;
        }
    }

    public async Task<AuthorizationStatus> ClientCredentialsAsync(string tenant, AuthorizeWithClientCredentialsRequest request, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, request.MailboxId, cancellationToken);
        var (client, provider) = clients.For(mailbox);
        var grant = await CallProviderAsync(ct => provider.ClientCredentialsAsync(client, mailbox, ct), cancellationToken);
        return await StoreGrantAsync(mailbox, client, provider, grant, CredentialKind.AppOnly, cancellationToken);
    }

    public async Task<AuthorizationStatus> ImportRefreshTokenAsync(string tenant, ImportRefreshTokenRequest request, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, request.MailboxId, cancellationToken);
        var token = request.RefreshToken;
        if (token.Length is 0 or > MaxRefreshTokenLength || token.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidRefreshToken, "refresh_token", $"refresh_token is required: 1-{MaxRefreshTokenLength} characters without white space.");
        }

        var (client, provider) = clients.For(mailbox);
        var grant = await CallProviderAsync(ct => provider.RedeemRefreshTokenAsync(client, mailbox, token, ct), cancellationToken);
        if (grant.RefreshToken is null && !grant.MsalHasRefreshToken)
        {
            grant = grant with { RefreshToken = token };
        }

        return await StoreGrantAsync(mailbox, client, provider, grant, CredentialKind.Delegated, cancellationToken);
    }

    public async Task<AuthorizationStatus> SetPasswordAsync(string tenant, SetMailboxPasswordRequest request, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, request.MailboxId, cancellationToken);
        if (mailbox.AuthKind != MailboxAuthKind.Password)
        {
            throw MailGrpcException.FailedPrecondition(ErrorReasons.NotPasswordMailbox, $"Mailbox '{mailbox.Id}' does not use password auth.");
        }

        var password = request.Password;
        if (password.Length is 0 or > MaxPasswordLength || password.Any(char.IsControl))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidPassword, "password", $"password is required: 1-{MaxPasswordLength} characters without control characters.");
        }

        if (!request.SkipVerification)
        {
            // One POP3 login before anything is stored: a wrong password is refused now, with the server's answer.
            var trial = new Pop3Credential(Pop3CredentialKind.Password, mailbox.Username, password, null);
            if (!await pop3.TryLoginOnceAsync(mailbox, trial, cancellationToken))
            {
                throw new MailGrpcException(
                    ErrorKind.FailedPrecondition,
                    ErrorReasons.Pop3CredentialRefused,
                    $"The POP3 server {mailbox.Host}:{mailbox.Port} refused this password for {mailbox.Username}; nothing was stored. Check the app password (and that POP3 is enabled for the account), or set skip_verification.",
                    new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["username"] = mailbox.Username });
            }
        }

        var now = time.GetUtcNow();
        var credential = new StoredCredential { Kind = CredentialKind.Password, Password = password, StoredAt = now, Account = request.SkipVerification ? null : mailbox.Username };
        await credentials.PutAsync(tenant, mailbox.Id, credential, "*", cancellationToken);
        var updated = await states.MarkActiveAsync(tenant, mailbox.Id, cancellationToken) ?? throw MailGrpcException.MailboxNotFound(mailbox.Id);
        LogPasswordSet(logger, tenant, mailbox.Id);
        return ToStatus(updated, credential);
    }

    public async Task<AuthorizationStatus> GetStatusAsync(string tenant, GetAuthorizationStatusRequest request, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, request.MailboxId, cancellationToken);
        var loaded = await credentials.GetAsync(tenant, mailbox.Id, cancellationToken);
        return ToStatus(mailbox, loaded?.Credential);
    }

    public async Task<RevokeAuthorizationResponse> RevokeAsync(string tenant, RevokeAuthorizationRequest request, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, request.MailboxId, cancellationToken);
        LoadedCredential? loaded = null;
        try
        {
            loaded = await credentials.GetAsync(tenant, mailbox.Id, cancellationToken);
        }
        catch (SecretUnreadableException)
        {
            // Unreadable: nothing to revoke at the provider, but it is still forgotten.
        }

        var revoked = false;
        if (loaded is { Credential.Kind: not CredentialKind.Password } && mailbox.AuthKind == MailboxAuthKind.OAuth)
        {
            try
            {
                var (client, provider) = clients.For(mailbox);
                try
                {
                    revoked = await provider.RevokeAsync(client, mailbox, loaded.Credential, cancellationToken);
                }
                finally
                {
                    await provider.ForgetAsync(client, mailbox, cancellationToken);
                }
            }
            catch (Exception ex) when (ex is OAuthProviderException or MailGrpcException)
            {
                // The tokens are forgotten either way; the response says the provider did not confirm.
                LogRevokeFailed(logger, tenant, mailbox.Id, ex.GetType().Name);
            }
        }

        await credentials.DeleteAsync(tenant, mailbox.Id, cancellationToken);
        var updated = await states.MarkPendingAsync(tenant, mailbox.Id, cancellationToken) ?? throw MailGrpcException.MailboxNotFound(mailbox.Id);
        LogRevoked(logger, tenant, mailbox.Id, revoked);
        return new RevokeAuthorizationResponse { RevokedAtProvider = revoked, Status = ToStatus(updated, null) };
    }

    private async Task<TokenGrant> CallProviderAsync(Func<CancellationToken, Task<TokenGrant>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await broker.WithTransientRetriesAsync(call, cancellationToken);
        }
        catch (OAuthProviderException ex)
        {
            throw OAuthErrorMapping.Map(ex);
        }
    }

    private async Task<AuthorizationStatus> StoreGrantAsync(MailboxRecord mailbox, OAuthClient client, IOAuthProvider provider, TokenGrant grant, CredentialKind kind, CancellationToken cancellationToken)
    {
        string? account = null;
        if (kind == CredentialKind.Delegated)
        {
            // Who consented comes first: a grant of the wrong account is refused whatever else it holds.
            account = await BindIdentityAsync(mailbox, client, provider, grant, cancellationToken);
            if (grant.RefreshToken is null && !grant.MsalHasRefreshToken && !client.Options.AllowAccessTokenOnly)
            {
                await DiscardAsync(mailbox, client, provider, grant);
                throw RefreshTokenNotIssued(client, grant);
            }
        }

        var now = time.GetUtcNow();
        var credential = new StoredCredential
        {
            Kind = kind,
            OAuthClient = client.Name,
            AccessToken = grant.AccessToken,
            RefreshToken = grant.RefreshToken,
            AccessTokenExpiresAt = grant.ExpiresAt,
            Scopes = grant.Scopes,
            LastRefreshAt = now,
            MsalAccountId = grant.MsalAccountId,
            MsalHasRefreshToken = grant.MsalHasRefreshToken,
            StoredAt = now,
            Account = account,
        };

        // Not cancelled half-way: the provider has issued the tokens; losing them now would waste the consent.
        await credentials.PutAsync(mailbox.Tenant, mailbox.Id, credential, "*", CancellationToken.None);
        var updated = await states.MarkActiveAsync(mailbox.Tenant, mailbox.Id, CancellationToken.None) ?? throw MailGrpcException.MailboxNotFound(mailbox.Id);
        LogAuthorized(logger, mailbox.Tenant, mailbox.Id, kind, client.Name);
        metrics.TokenExpiryChanged(mailbox.Tenant, mailbox.Id, grant.ExpiresAt);
        return ToStatus(updated, credential);
    }

    /// <summary>
    /// Establishes who consented and compares it with the mailbox's username; returns the account. With no identity from
    /// the provider, one POP3 login with the new token decides. Throws (and revokes the new grant) on a mismatch.
    /// </summary>
    private async Task<string> BindIdentityAsync(MailboxRecord mailbox, OAuthClient client, IOAuthProvider provider, TokenGrant grant, CancellationToken cancellationToken)
    {
        ConsentedIdentity? identity;
        try
        {
            identity = await broker.WithTransientRetriesAsync(ct => provider.IdentifyAsync(client, grant, ct), cancellationToken);
        }
        catch (OAuthProviderException ex)
        {
            await DiscardAsync(mailbox, client, provider, grant);
            throw OAuthErrorMapping.Map(ex);
        }

        if (identity is null)
        {
            var trial = new Pop3Credential(Pop3CredentialKind.AccessToken, mailbox.Username, grant.AccessToken, grant.ExpiresAt);
            if (await pop3.TryLoginOnceAsync(mailbox, trial, cancellationToken))
            {
                return mailbox.Username;
            }

            await DiscardAsync(mailbox, client, provider, grant);
            throw new MailGrpcException(
                ErrorKind.FailedPrecondition,
                ErrorReasons.Pop3CredentialRefused,
                $"The provider names no account for this grant, and the POP3 server refused its token for {mailbox.Username}: the person probably consented with another account. Nothing was stored; authorize again signed in as {mailbox.Username}.",
                new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["expected_account"] = mailbox.Username });
        }

        if (string.IsNullOrEmpty(identity.Value) || !identity.Verified)
        {
            await DiscardAsync(mailbox, client, provider, grant);
            throw new MailGrpcException(
                ErrorKind.FailedPrecondition,
                ErrorReasons.IdentityUnavailable,
                string.IsNullOrEmpty(identity.Value)
                    ? $"The provider's {identity.Source} has no '{identity.Claim}' claim, so the consenting account cannot be compared with {mailbox.Username}. Nothing was stored; request the scope that releases it (e.g. `email`) or set MailGrpc:OAuthClients:{client.Name}:IdentityClaim."
                    : $"The provider marks the address '{identity.Value}' as unverified, so it does not prove the account. Nothing was stored; verify the address at the provider.",
                new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["claim"] = identity.Claim, ["expected_account"] = mailbox.Username });
        }

        if (!string.Equals(identity.Value, mailbox.Username, StringComparison.OrdinalIgnoreCase))
        {
            await DiscardAsync(mailbox, client, provider, grant);
            var consented = identity.Value.Length > 320 ? identity.Value[..320] : identity.Value;
            throw new MailGrpcException(
                ErrorKind.PermissionDenied,
                ErrorReasons.IdentityMismatch,
                $"The authorization was given by account {consented}, but mailbox '{mailbox.Id}' is for {mailbox.Username}. Nothing was stored; the person must sign in at the provider as {mailbox.Username} and authorize again.",
                new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["consented_account"] = consented, ["expected_account"] = mailbox.Username, ["claim"] = identity.Claim });
        }

        return identity.Value;
    }

    private static MailGrpcException RefreshTokenNotIssued(OAuthClient client, TokenGrant grant)
    {
        var fix = client.Options.Provider switch
        {
            OAuthProviderKind.Google => "At Google the refresh token comes with access_type=offline and prompt=consent (MailGrpc sends both unless PromptConsent is false); remove the app's earlier grant at https://myaccount.google.com/permissions and authorize again.",
            OAuthProviderKind.Microsoft => "At Entra ID, the app registration needs the delegated permission offline_access.",
            _ => client.Options.PromptConsent == false
                ? $"PromptConsent is off for OAuth client '{client.Name}', and OpenID providers issue a refresh token only with prompt=consent; turn it on, or allow the client the refresh_token grant and the offline_access scope at the provider."
                : $"At the provider, allow client '{client.Options.ClientId}' the refresh_token grant type and the offline_access scope (MailGrpc requested offline_access with prompt=consent).",
        };
        return new MailGrpcException(
            ErrorKind.FailedPrecondition,
            ErrorReasons.RefreshTokenNotIssued,
            $"The provider issued no refresh token, so this mailbox would stop working when the access token expires ({grant.ExpiresAt:u}). Nothing was stored. {fix} Or set MailGrpc:OAuthClients:{client.Name}:AllowAccessTokenOnly=true to accept access until then.",
            new Dictionary<string, string> { ["oauth_client"] = client.Name, ["granted_scopes"] = string.Join(' ', grant.Scopes) });
    }

    /// <summary>Revokes tokens that will not be stored (best effort), so a refused grant does not stay alive at the provider.</summary>
    private async Task DiscardAsync(MailboxRecord mailbox, OAuthClient client, IOAuthProvider provider, TokenGrant grant)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var unused = new StoredCredential { Kind = CredentialKind.Delegated, AccessToken = grant.AccessToken, RefreshToken = grant.RefreshToken, StoredAt = time.GetUtcNow() };
            await provider.RevokeAsync(client, mailbox, unused, timeout.Token);
        }
        catch (Exception ex) when (ex is OAuthProviderException or MailGrpcException or OperationCanceledException or HttpRequestException)
        {
            LogDiscardFailed(logger, mailbox.Tenant, mailbox.Id, ex.GetType().Name);
        }
    }

    private async Task<MailboxRecord> GetMailboxAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        MailboxValidator.ValidateMailboxId(mailboxId);
        return await mailboxes.GetRequiredAsync(tenant, mailboxId, cancellationToken);
    }

    private static string ChooseRedirectUri(OAuthClient client, string requested)
    {
        var configured = client.Options.RedirectUris;
        if (string.IsNullOrEmpty(requested))
        {
            return configured.Count > 0
                ? configured[0]
                : throw MailGrpcException.FailedPrecondition(ErrorReasons.NoRedirectUri, $"The OAuth client '{client.Name}' has no RedirectUris configured.");
        }

        // Exact match only, as providers compare: no prefix, case or trailing-slash games.
        return configured.Contains(requested, StringComparer.Ordinal)
            ? requested
            : throw MailGrpcException.InvalidArgument(ErrorReasons.RedirectUriNotAllowed, "redirect_uri", $"redirect_uri is not one of the OAuth client '{client.Name}''s configured RedirectUris.");
    }

    private static CallbackValues ParseCallback(string callbackUrl)
    {
        if (callbackUrl.Length > 16384 || !Uri.TryCreate(callbackUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidCallback, "callback_url", "callback_url must be the absolute http(s) URL the provider redirected to.");
        }

        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(uri.Query);
        string Get(string name) => query.TryGetValue(name, out var values) && values.Count == 1 ? values[0] ?? string.Empty : string.Empty;
        var error = Get("error");
        return new CallbackValues(Get("state"), Get("code"), NullIfEmpty(Get("iss")), string.IsNullOrEmpty(error) ? null : error, NullIfEmpty(Get("error_description")));
    }

    private static string? NullIfEmpty(string value) => string.IsNullOrEmpty(value) ? null : value;

    public static AuthorizationStatus ToStatus(MailboxRecord mailbox, StoredCredential? credential)
    {
        var status = new AuthorizationStatus
        {
            MailboxId = mailbox.Id,
            State = mailbox.State,
            CredentialKind = credential?.Kind ?? CredentialKind.Unspecified,
            HasRefreshToken = credential?.HasRefreshToken ?? false,
            LastErrorReason = mailbox.LastErrorReason ?? string.Empty,
            LastErrorMessage = mailbox.LastErrorMessage ?? string.Empty,
            Account = credential?.Account ?? string.Empty,
        };
        if (credential is { Kind: not CredentialKind.Password })
        {
            if (credential.AccessTokenExpiresAt is { } expires)
            {
                status.AccessTokenExpireTime = Timestamp.FromDateTimeOffset(expires);
            }

            if (credential.LastRefreshAt is { } refreshed)
            {
                status.LastRefreshTime = Timestamp.FromDateTimeOffset(refreshed);
            }

            status.GrantedScopes.AddRange(credential.Scopes);
            if (credential.Kind == CredentialKind.Delegated && !credential.HasRefreshToken && credential.AccessTokenExpiresAt is { } ends)
            {
                status.AccessEndTime = Timestamp.FromDateTimeOffset(ends);
            }
        }

        return status;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [GeneratedRegex("^[A-Za-z0-9_-]{16,128}$")]
    private static partial Regex StatePattern();

    [LoggerMessage(Level = LogLevel.Information, Message = "Authorization of {Tenant}/{MailboxId} started with client {Client}")]
    private static partial void LogBegun(ILogger logger, string tenant, string mailboxId, string client);

    [LoggerMessage(Level = LogLevel.Information, Message = "Mailbox {Tenant}/{MailboxId} authorized ({Kind}) with client {Client}")]
    private static partial void LogAuthorized(ILogger logger, string tenant, string mailboxId, CredentialKind kind, string client);

    [LoggerMessage(Level = LogLevel.Information, Message = "Password of {Tenant}/{MailboxId} set")]
    private static partial void LogPasswordSet(ILogger logger, string tenant, string mailboxId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Authorization of {Tenant}/{MailboxId} revoked; provider confirmed: {Revoked}")]
    private static partial void LogRevoked(ILogger logger, string tenant, string mailboxId, bool revoked);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Revoking the refused grant of {Tenant}/{MailboxId} at the provider failed ({ErrorType})")]
    private static partial void LogDiscardFailed(ILogger logger, string tenant, string mailboxId, string errorType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Revocation at the provider failed for {Tenant}/{MailboxId} ({ErrorType}); the tokens are forgotten anyway")]
    private static partial void LogRevokeFailed(ILogger logger, string tenant, string mailboxId, string errorType);
}

/// <summary>The values of an authorization callback (<c>iss</c> per RFC 9207; <c>error</c> when the provider refused).</summary>
internal sealed record CallbackValues(string State, string Code, string? Iss, string? Error, string? ErrorDescription)
{
    public override string ToString() => "authorization callback";
}

/// <summary>A completed authorization-code flow: the status and the mailbox it was for (for the person's page).</summary>
internal sealed record CompletedAuthorization(AuthorizationStatus Status, MailboxRecord Mailbox);
