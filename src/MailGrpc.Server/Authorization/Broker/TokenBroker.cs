using System.Collections.Concurrent;
using System.Security.Cryptography;
using MailGrpc.Server.Authorization.Providers;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.Options;

// Until Mailboxes.MailboxState (core, #12) replaces the proto enum on MailboxRecord; then this line goes.
using MailboxState = MailGrpc.Server.Mailboxes.MailboxState;

namespace MailGrpc.Server.Authorization.Broker;

/// <summary>
/// Hands the POP3 code a valid credential. A cached token that is not near expiry costs one store read. A refresh runs
/// once per mailbox: callers in this process share one task (single-flight), replicas share a Redis lock, and the holder
/// re-reads the credential after taking the lock (another replica may have just refreshed). The new tokens — including a
/// rotated refresh token — are written before the access token is handed out.
/// </summary>
internal sealed partial class TokenBroker(
    CredentialStore credentials,
    IStateStore store,
    OAuthClientRegistry clients,
    MailboxStateRecorder states,
    IOptions<TokenOptions> options,
    TimeProvider time,
    MailGrpcMetrics metrics,
    ILogger<TokenBroker> logger) : IMailboxCredentials
{
    private readonly ConcurrentDictionary<string, Task<LoadedCredential>> _inflight = new(StringComparer.Ordinal);

    private TokenOptions Tokens => options.Value;

    public async Task<Pop3Credential> GetAsync(MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        EnsureUsable(mailbox);
        var loaded = await credentials.GetAsync(mailbox.Tenant, mailbox.Id, cancellationToken);
        var current = RequireMatching(mailbox, loaded);
        if (current.Credential.Kind == CredentialKind.Password)
        {
            return ToPop3(mailbox, current.Credential);
        }

        if (!IsDue(current.Credential, refused: null))
        {
            if (current.Credential.AccessTokenExpiresAt is { } expires)
            {
                metrics.TokenExpiryChanged(mailbox.Tenant, mailbox.Id, expires);
            }

            return ToPop3(mailbox, current.Credential);
        }

        var refreshed = await RefreshOnceAsync(mailbox, refused: null, cancellationToken);
        return ToPop3(mailbox, refreshed.Credential);
    }

    public async Task<Pop3Credential> RenewAfterRefusalAsync(MailboxRecord mailbox, Pop3Credential refused, CancellationToken cancellationToken)
    {
        EnsureUsable(mailbox);
        if (refused.Kind == Pop3CredentialKind.Password)
        {
            throw await GiveUpAfterRefusalAsync(mailbox, ErrorReasons.InvalidPassword, "The POP3 server refused the stored password; set it again with SetMailboxPassword.", cancellationToken);
        }

        var refreshed = await RefreshOnceAsync(mailbox, refused.Secret, cancellationToken);
        return ToPop3(mailbox, refreshed.Credential);
    }

    public async Task<Exception> GiveUpAfterRefusalAsync(MailboxRecord mailbox, string reason, string message, CancellationToken cancellationToken)
    {
        var cause = ReauthorizationCause.LoginRefused(reason, message);
        metrics.TokenForgotten(mailbox.Tenant, mailbox.Id);
        await states.MarkReauthorizationRequiredAsync(mailbox.Tenant, mailbox.Id, cause.Reason, cause.Message, cancellationToken);
        return Failures.ReauthorizationRequired(mailbox.Id, cause);
    }

    /// <summary>
    /// Refreshes now unless the stored token is already fresh (or differs from the refused one). Shared by every caller in
    /// this process for the same mailbox.
    /// </summary>
    public Task<LoadedCredential> RefreshOnceAsync(MailboxRecord mailbox, string? refused, CancellationToken cancellationToken)
    {
        var key = mailbox.Tenant + "/" + mailbox.Id;
        while (true)
        {
            if (_inflight.TryGetValue(key, out var running))
            {
                return running.WaitAsync(cancellationToken);
            }

            // The refresh itself is not cancelled with one caller: others wait on it, and a half-done rotation is worse.
            var completion = new TaskCompletionSource<LoadedCredential>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_inflight.TryAdd(key, completion.Task))
            {
                _ = RunAndPublishAsync(mailbox, refused, key, completion);
                return completion.Task.WaitAsync(cancellationToken);
            }
        }
    }

    private async Task RunAndPublishAsync(MailboxRecord mailbox, string? refused, string key, TaskCompletionSource<LoadedCredential> completion)
    {
        try
        {
            completion.SetResult(await RefreshUnderLockAsync(mailbox, refused));
        }
        catch (Exception ex)
        {
            completion.SetException(ex);
        }
        finally
        {
            _inflight.TryRemove(new KeyValuePair<string, Task<LoadedCredential>>(key, completion.Task));
        }
    }

    private async Task<LoadedCredential> RefreshUnderLockAsync(MailboxRecord mailbox, string? refused)
    {
        var tokens = Tokens;
        using var overall = new CancellationTokenSource(tokens.RefreshWait);
        var cancellationToken = overall.Token;
        var lockKey = StoreKeys.RefreshLock(mailbox.Tenant, mailbox.Id);
        var lockValue = RandomNumberGenerator.GetBytes(16);
        var delay = TimeSpan.FromMilliseconds(20);
        try
        {
            while (true)
            {
                if (await store.SetIfAbsentAsync(lockKey, lockValue, tokens.RefreshLockLifetime, cancellationToken))
                {
                    try
                    {
                        return await RefreshHoldingLockAsync(mailbox, refused, cancellationToken);
                    }
                    finally
                    {
                        await store.DeleteIfEqualAsync(lockKey, lockValue, CancellationToken.None);
                    }
                }

                // Another replica refreshes: wait for its result rather than refreshing twice.
                await Task.Delay(delay, time, cancellationToken);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 250));
                var current = RequireMatching(mailbox, await credentials.GetAsync(mailbox.Tenant, mailbox.Id, cancellationToken));
                if (!IsDue(current.Credential, refused))
                {
                    return current;
                }
            }
        }
        catch (OperationCanceledException) when (overall.IsCancellationRequested)
        {
            throw Failures.RefreshLockTimeout(mailbox.Id, tokens.RefreshWait);
        }
    }

    private async Task<LoadedCredential> RefreshHoldingLockAsync(MailboxRecord mailbox, string? refused, CancellationToken cancellationToken)
    {
        // Re-read under the lock: the previous holder may have refreshed already.
        var current = RequireMatching(mailbox, await credentials.GetAsync(mailbox.Tenant, mailbox.Id, cancellationToken));
        if (current.Credential.Kind == CredentialKind.Password || !IsDue(current.Credential, refused))
        {
            return current;
        }

        var (client, provider) = clients.For(mailbox);
        TokenGrant grant;
        try
        {
            grant = await WithTransientRetriesAsync(ct => provider.RefreshAsync(client, mailbox, current.Credential, ct), cancellationToken);
        }
        catch (OAuthProviderException ex) when (ex.Kind == OAuthFailureKind.Transient && current.Credential.AccessTokenExpiresAt > time.GetUtcNow().AddSeconds(5))
        {
            // The provider is down but the token is still valid for a while: use it, the next call tries again.
            LogRefreshDeferred(logger, mailbox.Tenant, mailbox.Id, ex.Error);
            metrics.TokenRefreshed(MailGrpcMetrics.RefreshDeferred, ErrorReasons.ProviderUnavailable);
            return current;
        }
        catch (OAuthProviderException ex)
        {
            var error = await ToMailGrpcErrorAsync(mailbox, ex, cancellationToken);
            metrics.TokenRefreshed(MailGrpcMetrics.RefreshFailure, ex.Kind == OAuthFailureKind.InvalidGrant ? ErrorReasons.InvalidGrant : error.Reason);
            if (ex.Kind == OAuthFailureKind.InvalidGrant)
            {
                metrics.TokenForgotten(mailbox.Tenant, mailbox.Id);
            }

            throw error;
        }

        var next = current.Credential with
        {
            AccessToken = grant.AccessToken,
            RefreshToken = grant.RefreshToken ?? current.Credential.RefreshToken,
            AccessTokenExpiresAt = grant.ExpiresAt,
            Scopes = grant.Scopes.Count > 0 ? grant.Scopes : current.Credential.Scopes,
            LastRefreshAt = time.GetUtcNow(),
            MsalAccountId = grant.MsalAccountId ?? current.Credential.MsalAccountId,
            MsalHasRefreshToken = grant.MsalHasRefreshToken || current.Credential.MsalHasRefreshToken,
            StoredAt = time.GetUtcNow(),
        };

        // Written with the version read under the lock: a revocation or a new authorization in between wins.
        var version = await credentials.PutAsync(mailbox.Tenant, mailbox.Id, next, current.Version, CancellationToken.None);
        if (version is null)
        {
            return RequireMatching(mailbox, await credentials.GetAsync(mailbox.Tenant, mailbox.Id, cancellationToken));
        }

        LogRefreshed(logger, mailbox.Tenant, mailbox.Id, grant.ExpiresAt, grant.RefreshToken is not null);
        metrics.TokenRefreshed(MailGrpcMetrics.RefreshSuccess, refused is null ? MailGrpcMetrics.RefreshTriggerExpiring : MailGrpcMetrics.RefreshTriggerRefused);
        metrics.TokenExpiryChanged(mailbox.Tenant, mailbox.Id, grant.ExpiresAt);

        return new LoadedCredential(next, version);
    }

    /// <summary>Runs a provider call, retrying transient failures with exponential backoff.</summary>
    public async Task<T> WithTransientRetriesAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        var tokens = Tokens;
        var backoff = tokens.TransientBackoff;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await CallProviderAsync(call, cancellationToken);
            }
            catch (OAuthProviderException ex) when (ex.Kind == OAuthFailureKind.Transient && attempt < tokens.TransientRetries)
            {
                LogTransient(logger, ex.Error, attempt + 1);
                await Task.Delay(backoff, time, cancellationToken);
                backoff *= 2;
            }
        }
    }

    // A provider that does not answer within ProviderTimeout (HttpClient cancels the request) or cannot be reached is a
    // transient failure like a 503: retried, then OAUTH_PROVIDER_UNAVAILABLE, never the caller's own TIMEOUT.
    private static async Task<T> CallProviderAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(cancellationToken);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new OAuthProviderException(OAuthFailureKind.Transient, "provider_timeout", "The provider did not answer within MailGrpc:Tokens:ProviderTimeout.", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new OAuthProviderException(OAuthFailureKind.Transient, "provider_unreachable", ex.HttpRequestError.ToString(), ex);
        }
    }

    /// <summary>Turns a provider failure into the caller's error; a dead grant also moves the mailbox to REAUTHORIZATION_REQUIRED.</summary>
    public async Task<MailGrpcException> ToMailGrpcErrorAsync(MailboxRecord mailbox, OAuthProviderException ex, CancellationToken cancellationToken)
    {
        var cause = ex.Kind switch
        {
            OAuthFailureKind.InvalidGrant => ReauthorizationCause.GrantRefused(ex.Error, ProviderMessage(ex)),

            // Nothing was asked of the provider: say so, and no provider error.
            OAuthFailureKind.NoRefreshToken => ReauthorizationCause.NoRefreshToken(ex.Description),
            _ => null,
        };
        if (cause is not null)
        {
            await states.MarkReauthorizationRequiredAsync(mailbox.Tenant, mailbox.Id, cause.Reason, cause.Message, CancellationToken.None);
            return Failures.ReauthorizationRequired(mailbox.Id, cause);
        }

        return OAuthErrorMapping.Map(ex);
    }

    private static string ProviderMessage(OAuthProviderException ex) => Truncate(string.IsNullOrEmpty(ex.Description) ? ex.Error : $"{ex.Error}: {ex.Description}");

    private static string Truncate(string value) => value.Length <= 300 ? value : value[..300];

    private bool IsDue(StoredCredential credential, string? refused)
    {
        if (refused is not null)
        {
            // Refused token: refresh unless someone already replaced it.
            return string.Equals(credential.AccessToken, refused, StringComparison.Ordinal);
        }

        return string.IsNullOrEmpty(credential.AccessToken)
            || credential.AccessTokenExpiresAt is not { } expires
            || expires - Tokens.RefreshMargin <= time.GetUtcNow();
    }

    private static void EnsureUsable(MailboxRecord mailbox)
    {
        switch (mailbox.State)
        {
            case MailboxState.Disabled:
                throw Failures.MailboxDisabled(mailbox.Id);
            case MailboxState.ReauthorizationRequired:
                throw Failures.ReauthorizationRequired(mailbox.Id, ReauthorizationCause.AlreadyRecorded(mailbox.LastErrorReason));
        }
    }

    private static LoadedCredential RequireMatching(MailboxRecord mailbox, LoadedCredential? loaded)
    {
        var matches = loaded is { Credential: var c } && mailbox.AuthKind switch
        {
            MailboxAuthKind.Password => c.Kind == CredentialKind.Password,
            MailboxAuthKind.OAuth => c.Kind != CredentialKind.Password && c.OAuthClient == mailbox.OAuthClient,
            _ => false,
        };
        if (!matches)
        {
            throw Failures.NotAuthorized(mailbox.Id, mailbox.AuthKind == MailboxAuthKind.Password);
        }

        return loaded!;
    }

    private static Pop3Credential ToPop3(MailboxRecord mailbox, StoredCredential credential) => credential.Kind == CredentialKind.Password
        ? new Pop3Credential(Pop3CredentialKind.Password, mailbox.Username, credential.Password ?? string.Empty, null)
        : new Pop3Credential(Pop3CredentialKind.AccessToken, mailbox.Username, credential.AccessToken ?? string.Empty, credential.AccessTokenExpiresAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Refreshed the token of {Tenant}/{MailboxId}; expires {ExpiresAt:O}; refresh token rotated: {Rotated}")]
    private static partial void LogRefreshed(ILogger logger, string tenant, string mailboxId, DateTimeOffset expiresAt, bool rotated);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Transient OAuth failure {Error}, retry {Attempt}")]
    private static partial void LogTransient(ILogger logger, string error, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refresh of {Tenant}/{MailboxId} deferred ({Error}); the current token is still valid")]
    private static partial void LogRefreshDeferred(ILogger logger, string tenant, string mailboxId, string error);
}
