using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using MailGrpc.Server.Authorization.Broker;
using MailGrpc.Server.Authorization.Flows;
using MailGrpc.Server.Authorization.Providers;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.Options;

// Until Mailboxes.MailboxState (core, #12) replaces the proto enum on MailboxRecord; then this line goes.
using MailboxState = MailGrpc.Server.Mailboxes.MailboxState;

namespace MailGrpc.Server.Authorization;

/// <summary>
/// The rules of every authorization flow, in domain types (the gRPC edge maps them: <c>GrpcApi/AuthorizationProtoMapper</c>). Input is checked before anything is written; a flow that fails stores
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

    /// <summary>
    /// Starts an authorization-code flow. <paramref name="redirectUri"/> and <paramref name="loginHint"/> may be empty
    /// (the client's first redirect URI; the mailbox's username).
    /// </summary>
    public async Task<AuthorizationLink> BeginAsync(string tenant, string mailboxId, string redirectUri, string loginHint, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, mailboxId, cancellationToken);
        var (client, provider) = clients.For(mailbox);
        redirectUri = ChooseRedirectUri(client, redirectUri);
        if (loginHint.Length > MailboxValidator.MaxUsernameLength || loginHint.Any(char.IsControl))
        {
            throw Failures.LoginHintInvalid(MailboxValidator.MaxUsernameLength);
        }

        loginHint = string.IsNullOrEmpty(loginHint) ? mailbox.Username : loginHint;
        var state = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
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
        return new AuthorizationLink(url.Url, state, expiresAt, redirectUri);
    }

    /// <summary>
    /// Redeems a code. <paramref name="tenant"/> is the caller's tenant for the RPC, or null for the browser callback (the
    /// state itself is the proof there: it is 256 random bits and single use).
    /// </summary>
    public async Task<MailboxAuthorization> CompleteAsync(string? tenant, CodeRedemption redemption, CancellationToken cancellationToken)
    {
        var (state, code, iss, callbackUrl) = redemption;
        if (string.IsNullOrEmpty(callbackUrl))
        {
            return (await CompleteAsync(tenant, new CallbackValues(state, code, NullIfEmpty(iss), null, null), cancellationToken)).Status;
        }

        var parsed = ParseCallback(callbackUrl);
        if ((!string.IsNullOrEmpty(state) && state != parsed.State) || (!string.IsNullOrEmpty(code) && code != parsed.Code) || (!string.IsNullOrEmpty(iss) && iss != parsed.Iss))
        {
            throw Failures.InvalidCallback(Failures.CallbackProblem.UrlDisagrees);
        }

        return (await CompleteAsync(tenant, parsed, cancellationToken)).Status;
    }

    /// <summary>Redeems the values of a callback; <see cref="CallbackValues.Error"/> is the callback's <c>error</c> parameter.</summary>
    public async Task<CompletedAuthorization> CompleteAsync(string? tenant, CallbackValues callback, CancellationToken cancellationToken)
    {
        var (state, code, iss, providerError, providerErrorDescription) = callback;
        if (string.IsNullOrEmpty(state))
        {
            throw Failures.InvalidCallback(providerError is null ? Failures.CallbackProblem.StateMissing : Failures.CallbackProblem.StateMissingOnProviderError);
        }

        if (!StatePattern().IsMatch(state))
        {
            throw Failures.InvalidCallback(Failures.CallbackProblem.StateMalformed);
        }

        var found = await pending.PeekAsync(state, cancellationToken)
            ?? throw Failures.StateNotFound();
        if (tenant is not null && found.Tenant != tenant)
        {
            // Checked before the state is consumed, so another tenant cannot burn someone's flow.
            throw Failures.StateTenantMismatch();
        }

        if (found.UsedAt is not null)
        {
            throw AlreadyUsed(found);
        }

        if (found.ExpiresAt <= time.GetUtcNow())
        {
            throw Failures.StateExpired();
        }

        var taken = await pending.TakeAsync(state, cancellationToken)
            ?? throw AlreadyUsed(await pending.PeekAsync(state, cancellationToken) ?? found);
        var mailbox = await mailboxes.GetAsync(taken.Tenant, taken.MailboxId, cancellationToken)
            ?? throw Failures.MailboxNotFound(taken.MailboxId);
        if (mailbox.OAuthClient != taken.OAuthClient)
        {
            throw Failures.NotOAuthMailbox(mailbox.Id, clientChangedSinceStart: true);
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
                throw Failures.InvalidCallback(Failures.CallbackProblem.CodeInvalid);
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
                throw Failures.IssuerMismatch(client.Name, expected?.Issuer);
            }
        }
        else if (expected is { Required: true })
        {
            throw Failures.IssuerMissing(client.Name, expected.Issuer);
        }
    }

    private static MailGrpcException AlreadyUsed(PendingAuthorization found) =>
        Failures.StateAlreadyUsed(found.MailboxId, completed: found.CompletedAt is not null, found.Account);

    /// <summary>
    /// The device flow: first the code to show the person, then (after polling the provider at its interval until they
    /// decide or the code expires) the stored authorization.
    /// </summary>
    public async IAsyncEnumerable<DeviceAuthorizationEvent> StartDeviceAsync(string tenant, string mailboxId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, mailboxId, cancellationToken);
        var (client, provider) = clients.For(mailbox);
        var device = await provider.StartDeviceAuthorizationAsync(client, mailbox, cancellationToken);
        yield return new DeviceCodeShown(device.UserCode, device.VerificationUri, device.VerificationUriComplete, device.ExpiresAt);

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
            yield return new DeviceAuthorizationCompleted(status);
            yield break;
        }
    }

    public async Task<MailboxAuthorization> ClientCredentialsAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, mailboxId, cancellationToken);
        var (client, provider) = clients.For(mailbox);
        var grant = await CallProviderAsync(ct => provider.ClientCredentialsAsync(client, mailbox, ct), cancellationToken);
        return await StoreGrantAsync(mailbox, client, provider, grant, CredentialKind.AppOnly, cancellationToken);
    }

    public async Task<MailboxAuthorization> ImportRefreshTokenAsync(string tenant, string mailboxId, string token, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, mailboxId, cancellationToken);
        if (token.Length is 0 or > MaxRefreshTokenLength || token.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw Failures.InvalidRefreshToken(MaxRefreshTokenLength);
        }

        var (client, provider) = clients.For(mailbox);
        var grant = await CallProviderAsync(ct => provider.RedeemRefreshTokenAsync(client, mailbox, token, ct), cancellationToken);
        if (grant.RefreshToken is null && !grant.MsalHasRefreshToken)
        {
            grant = grant with { RefreshToken = token };
        }

        return await StoreGrantAsync(mailbox, client, provider, grant, CredentialKind.Delegated, cancellationToken);
    }

    public async Task<MailboxAuthorization> SetPasswordAsync(string tenant, PasswordSubmission request, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, request.MailboxId, cancellationToken);
        if (mailbox.AuthKind != MailboxAuthKind.Password)
        {
            throw Failures.NotPasswordMailbox(mailbox.Id);
        }

        var password = request.Password;
        if (password.Length is 0 or > MaxPasswordLength || password.Any(char.IsControl))
        {
            throw Failures.InvalidPassword(MaxPasswordLength);
        }

        if (!request.SkipVerification)
        {
            // One POP3 login before anything is stored: a wrong password is refused now, with the server's answer.
            var trial = new Pop3Credential(Pop3CredentialKind.Password, mailbox.Username, password, null);
            if (!await pop3.TryLoginOnceAsync(mailbox, trial, cancellationToken))
            {
                throw Failures.PasswordRefusedAtTrialLogin(mailbox);
            }
        }

        var now = time.GetUtcNow();
        var credential = new StoredCredential { Kind = CredentialKind.Password, Password = password, StoredAt = now, Account = request.SkipVerification ? null : mailbox.Username };
        await credentials.PutAsync(tenant, mailbox.Id, credential, "*", cancellationToken);
        var updated = await states.MarkActiveAsync(tenant, mailbox.Id, cancellationToken) ?? throw Failures.MailboxNotFound(mailbox.Id);
        LogPasswordSet(logger, tenant, mailbox.Id);
        return ToStatus(updated, credential);
    }

    public async Task<MailboxAuthorization> GetStatusAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, mailboxId, cancellationToken);
        var loaded = await credentials.GetAsync(tenant, mailbox.Id, cancellationToken);
        return ToStatus(mailbox, loaded?.Credential);
    }

    public async Task<AuthorizationRevocation> RevokeAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, mailboxId, cancellationToken);
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
        var updated = await states.MarkPendingAsync(tenant, mailbox.Id, cancellationToken) ?? throw Failures.MailboxNotFound(mailbox.Id);
        LogRevoked(logger, tenant, mailbox.Id, revoked);
        return new AuthorizationRevocation(revoked, ToStatus(updated, null));
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

    private async Task<MailboxAuthorization> StoreGrantAsync(MailboxRecord mailbox, OAuthClient client, IOAuthProvider provider, TokenGrant grant, CredentialKind kind, CancellationToken cancellationToken)
    {
        string? account = null;
        if (kind == CredentialKind.Delegated)
        {
            // Who consented comes first: a grant of the wrong account is refused whatever else it holds.
            account = await BindIdentityAsync(mailbox, client, provider, grant, cancellationToken);
            if (grant.RefreshToken is null && !grant.MsalHasRefreshToken && !client.Options.AllowAccessTokenOnly)
            {
                await DiscardAsync(mailbox, client, provider, grant);
                throw Failures.RefreshTokenNotIssued(client, grant.ExpiresAt, grant.Scopes);
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
        var updated = await states.MarkActiveAsync(mailbox.Tenant, mailbox.Id, CancellationToken.None) ?? throw Failures.MailboxNotFound(mailbox.Id);
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
            throw Failures.GrantRefusedAtTrialLogin(mailbox.Id, mailbox.Username);
        }

        if (string.IsNullOrEmpty(identity.Value) || !identity.Verified)
        {
            await DiscardAsync(mailbox, client, provider, grant);
            throw Failures.IdentityUnavailable(mailbox.Id, mailbox.Username, client.Name, identity);
        }

        if (!string.Equals(identity.Value, mailbox.Username, StringComparison.OrdinalIgnoreCase))
        {
            await DiscardAsync(mailbox, client, provider, grant);
            var consented = identity.Value.Length > 320 ? identity.Value[..320] : identity.Value;
            throw Failures.IdentityMismatch(mailbox.Id, mailbox.Username, consented, identity.Claim);
        }

        return identity.Value;
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
                : throw Failures.NoRedirectUri(client.Name);
        }

        // Exact match only, as providers compare: no prefix, case or trailing-slash games.
        return configured.Contains(requested, StringComparer.Ordinal)
            ? requested
            : throw Failures.RedirectUriNotAllowed(client.Name);
    }

    private static CallbackValues ParseCallback(string callbackUrl)
    {
        if (callbackUrl.Length > 16384 || !Uri.TryCreate(callbackUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw Failures.InvalidCallback(Failures.CallbackProblem.UrlInvalid);
        }

        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(uri.Query);
        string Get(string name) => query.TryGetValue(name, out var values) && values.Count == 1 ? values[0] ?? string.Empty : string.Empty;
        var error = Get("error");
        return new CallbackValues(Get("state"), Get("code"), NullIfEmpty(Get("iss")), string.IsNullOrEmpty(error) ? null : error, NullIfEmpty(Get("error_description")));
    }

    private static string? NullIfEmpty(string value) => string.IsNullOrEmpty(value) ? null : value;

    public static MailboxAuthorization ToStatus(MailboxRecord mailbox, StoredCredential? credential)
    {
        var status = new MailboxAuthorization
        {
            MailboxId = mailbox.Id,
            State = mailbox.State,
            CredentialKind = credential?.Kind ?? CredentialKind.Unspecified,
            HasRefreshToken = credential?.HasRefreshToken ?? false,
            LastErrorReason = mailbox.LastErrorReason,
            LastErrorMessage = mailbox.LastErrorMessage,
            Account = credential?.Account,
        };
        if (credential is not { Kind: not CredentialKind.Password })
        {
            return status;
        }

        return status with
        {
            AccessTokenExpiresAt = credential.AccessTokenExpiresAt,
            LastRefreshAt = credential.LastRefreshAt,
            GrantedScopes = credential.Scopes,
            AccessEndsAt = credential.Kind == CredentialKind.Delegated && !credential.HasRefreshToken ? credential.AccessTokenExpiresAt : null,
        };
    }

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
