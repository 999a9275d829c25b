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
    IOptionsMonitor<MailGrpcOptions> options,
    TimeProvider time,
    MailGrpcMetrics metrics,
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
        var expiresAt = time.GetUtcNow() + options.CurrentValue.Tokens.PendingAuthorizationLifetime;
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
    public Task<AuthorizationStatus> CompleteAsync(string? tenant, string state, string code, string callbackUrl, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(callbackUrl))
        {
            return CompleteAsync(tenant, state, code, null, null, cancellationToken);
        }

        var parsed = ParseCallback(callbackUrl);
        if ((!string.IsNullOrEmpty(state) && state != parsed.State) || (!string.IsNullOrEmpty(code) && code != parsed.Code))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidCallback, "callback_url", "callback_url disagrees with the state or code given beside it.");
        }

        return CompleteAsync(tenant, parsed.State, parsed.Code, parsed.Error, parsed.ErrorDescription, cancellationToken);
    }

    /// <summary>Redeems the values of a callback; <paramref name="providerError"/> is the callback's <c>error</c> parameter.</summary>
    public async Task<AuthorizationStatus> CompleteAsync(string? tenant, string state, string code, string? providerError, string? providerErrorDescription, CancellationToken cancellationToken)
    {
        if (!StatePattern().IsMatch(state))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidCallback, "state", "state is required: the `state` value the provider sent back.");
        }

        if (providerError is null && (string.IsNullOrEmpty(code) || code.Length > 4096 || code.Any(char.IsControl)))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidCallback, "code", "code is required: the `code` value the provider sent back.");
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
            throw MailGrpcException.FailedPrecondition(ErrorReasons.StateAlreadyUsed, "This state was already redeemed; start a new authorization.");
        }

        if (found.ExpiresAt <= time.GetUtcNow())
        {
            throw MailGrpcException.FailedPrecondition(ErrorReasons.StateExpired, "This authorization expired; start a new one.");
        }

        var taken = await pending.TakeAsync(state, cancellationToken)
            ?? throw MailGrpcException.FailedPrecondition(ErrorReasons.StateAlreadyUsed, "This state was already redeemed; start a new authorization.");
        if (providerError is not null)
        {
            throw OAuthErrorMapping.Map(new OAuthProviderException(OAuthProviderException.KindOf(providerError) is OAuthFailureKind.AccessDenied ? OAuthFailureKind.AccessDenied : OAuthFailureKind.Other, providerError, providerErrorDescription));
        }

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

        return await StoreGrantAsync(mailbox, client, grant, CredentialKind.Delegated, cancellationToken);
    }

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
            var status = await StoreGrantAsync(current, client, grant, CredentialKind.Delegated, cancellationToken);
            await stream.WriteAsync(new StartDeviceAuthorizationResponse { Completed = status }, cancellationToken);
            return;
        }
    }

    public async Task<AuthorizationStatus> ClientCredentialsAsync(string tenant, AuthorizeWithClientCredentialsRequest request, CancellationToken cancellationToken)
    {
        var mailbox = await GetMailboxAsync(tenant, request.MailboxId, cancellationToken);
        var (client, provider) = clients.For(mailbox);
        var grant = await CallProviderAsync(ct => provider.ClientCredentialsAsync(client, mailbox, ct), cancellationToken);
        return await StoreGrantAsync(mailbox, client, grant, CredentialKind.AppOnly, cancellationToken);
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

        return await StoreGrantAsync(mailbox, client, grant, CredentialKind.Delegated, cancellationToken);
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

        var now = time.GetUtcNow();
        var credential = new StoredCredential { Kind = CredentialKind.Password, Password = password, StoredAt = now };
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

    private async Task<AuthorizationStatus> StoreGrantAsync(MailboxRecord mailbox, OAuthClient client, TokenGrant grant, CredentialKind kind, CancellationToken cancellationToken)
    {
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
        };

        // Not cancelled half-way: the provider has issued the tokens; losing them now would waste the consent.
        await credentials.PutAsync(mailbox.Tenant, mailbox.Id, credential, "*", CancellationToken.None);
        var updated = await states.MarkActiveAsync(mailbox.Tenant, mailbox.Id, CancellationToken.None) ?? throw MailGrpcException.MailboxNotFound(mailbox.Id);
        LogAuthorized(logger, mailbox.Tenant, mailbox.Id, kind, client.Name);
        metrics.TokenExpiryChanged(mailbox.Tenant, mailbox.Id, grant.ExpiresAt);
        return ToStatus(updated, credential);
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

    private static (string State, string Code, string? Error, string? ErrorDescription) ParseCallback(string callbackUrl)
    {
        if (callbackUrl.Length > 16384 || !Uri.TryCreate(callbackUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidCallback, "callback_url", "callback_url must be the absolute http(s) URL the provider redirected to.");
        }

        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(uri.Query);
        string Get(string name) => query.TryGetValue(name, out var values) && values.Count == 1 ? values[0] ?? string.Empty : string.Empty;
        var error = Get("error");
        return (Get("state"), Get("code"), string.IsNullOrEmpty(error) ? null : error, NullIfEmpty(Get("error_description")));
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Revocation at the provider failed for {Tenant}/{MailboxId} ({ErrorType}); the tokens are forgotten anyway")]
    private static partial void LogRevokeFailed(ILogger logger, string tenant, string mailboxId, string errorType);
}
