using System.Security.Cryptography;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Network;
using MailGrpc.Server.Storage;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Mailboxes;

/// <summary>
/// The mailbox registry's rules: validation, provider presets, the SSRF guard, etags and paging. Everything is checked
/// before anything is written, so a refused request leaves the store as it was.
/// </summary>
internal sealed class MailboxManager(
    MailboxRepository repository,
    IStateStore store,
    HostGuard hostGuard,
    IOptions<OAuthClientsOptions> options,
    TimeProvider time,
    Authorization.GrantRevocation revocation,
    IOptions<SyncOptions> syncOptions,
    Sync.MailboxChangeFeed changes,
    IOptions<Pop3Options> pop3Options)
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 1000;
    private const string ListKind = "mailboxes";

    private static readonly HashSet<string> UpdatablePaths = new(StringComparer.Ordinal)
    {
        "display_name", "username", "provider", "server", "server.host", "server.port", "server.security", "auth_method", "state",
        "sync", "sync.enabled", "sync.interval",
        "retention", "retention.mode", "retention.required_consumers", "retention.delete_after",
    };

    public async Task<MailboxRecord> CreateAsync(string tenant, NewMailbox request, CancellationToken cancellationToken)
    {
        var input = request.Mailbox ?? throw Failures.MailboxRequired();
        var id = string.IsNullOrEmpty(request.MailboxId) ? NewMailboxId() : MailboxValidator.ValidateMailboxId(request.MailboxId);

        var (authKind, client, mechanism, clientProvider) = ResolveAuthMethod(input.AuthMethod);
        var provider = MailboxValidator.ValidateProvider(input.Provider);
        if (provider == MailboxProvider.Unspecified)
        {
            provider = clientProvider ?? MailboxProvider.Generic;
        }
        else if (clientProvider is { } fromClient && fromClient != provider && fromClient != MailboxProvider.Generic)
        {
            throw Failures.ProviderMismatch(provider.ToString(), fromClient.ToString());
        }

        var (host, port, security) = ResolveServer(input.Server, provider);
        await hostGuard.EnsureAllowedAsync(host, cancellationToken);

        var now = time.GetUtcNow();
        var record = new MailboxRecord
        {
            Tenant = tenant,
            Id = id,
            Username = MailboxValidator.ValidateUsername(input.Username),
            DisplayName = MailboxValidator.ValidateDisplayName(input.DisplayName),
            Provider = provider,
            Host = host,
            Port = port,
            Security = security,
            AuthKind = authKind,
            OAuthClient = client,
            Mechanism = mechanism,
            State = MailboxState.PendingAuthorization,
            Sync = ValidateSync(input.Sync)?.OrNull(),
            Retention = RetentionPolicyValidator.Validate(input.Retention, pop3Options.Value.MaxConsumersPerMailbox)?.OrNull(),
            CreatedAt = now,
            UpdatedAt = now,
        };
        var created = await repository.CreateAsync(record, cancellationToken);
        await changes.CreatedAsync(created, cancellationToken);
        return created;
    }

    public async Task<MailboxRecord> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        MailboxValidator.ValidateMailboxId(mailboxId);
        return await repository.GetRequiredAsync(tenant, mailboxId, cancellationToken);
    }

    public async Task<MailboxPage> ListAsync(string tenant, int pageSize, string pageToken, CancellationToken cancellationToken)
    {
        if (pageSize < 0)
        {
            throw Failures.InvalidPageSize();
        }

        var size = pageSize == 0 ? DefaultPageSize : Math.Min(pageSize, MaxPageSize);
        var after = PageToken.Decode(pageToken, tenant, ListKind);
        var (page, lastId, more) = await repository.ListAsync(tenant, after, size, cancellationToken);
        var next = more && lastId is not null ? PageToken.Encode(tenant, ListKind, lastId) : string.Empty;
        return new MailboxPage(page, next);
    }

    public async Task<MailboxRecord> UpdateAsync(string tenant, MailboxChange request, CancellationToken cancellationToken)
    {
        var input = request.Mailbox ?? throw Failures.MailboxRequired();
        MailboxValidator.ValidateMailboxId(input.MailboxId, "mailbox.mailbox_id");
        var paths = request.Paths;
        if (paths.Count == 0 || paths.Any(p => !UpdatablePaths.Contains(p)))
        {
            throw Failures.InvalidUpdateMask(UpdatablePaths.Order(StringComparer.Ordinal));
        }

        var current = await repository.GetRequiredAsync(tenant, input.MailboxId, cancellationToken);
        if (!string.IsNullOrEmpty(input.Etag) && input.Etag != current.Etag)
        {
            throw Failures.EtagMismatch();
        }

        var next = current;
        var has = new HashSet<string>(paths, StringComparer.Ordinal);
        if (has.Contains("display_name"))
        {
            next = next with { DisplayName = MailboxValidator.ValidateDisplayName(input.DisplayName) };
        }

        if (has.Contains("username"))
        {
            next = next with { Username = MailboxValidator.ValidateUsername(input.Username) };
        }

        if (has.Contains("provider"))
        {
            next = next with { Provider = MailboxValidator.ValidateProvider(input.Provider) };
        }

        if (has.Contains("auth_method"))
        {
            var (authKind, client, mechanism, _) = ResolveAuthMethod(input.AuthMethod);
            var credentialReset = authKind != current.AuthKind || client != current.OAuthClient;
            next = next with
            {
                AuthKind = authKind,
                OAuthClient = client,
                Mechanism = mechanism,
                State = credentialReset && current.State != MailboxState.Disabled ? MailboxState.PendingAuthorization : next.State,
            };
        }

        if (has.Contains("server"))
        {
            var (host, port, security) = ResolveServer(input.Server, next.Provider);
            next = next with { Host = host, Port = port, Security = security };
        }
        else
        {
            if (has.Contains("server.host"))
            {
                next = next with { Host = MailboxValidator.ValidateHost(input.Server?.Host ?? string.Empty) };
            }

            if (has.Contains("server.security"))
            {
                next = next with { Security = MailboxValidator.ValidateSecurity(input.Server is null ? Pop3Security.Unspecified : input.Server.Security) };
            }

            if (has.Contains("server.port"))
            {
                next = next with { Port = input.Server is { Port: { } port } ? MailboxValidator.ValidatePort(port) : ProviderPresets.DefaultPort(next.Security) };
            }
        }

        if (has.Contains("state"))
        {
            next = next with { State = await NextStateAsync(current, next, input.State, cancellationToken) };
        }

        if (has.Contains("sync"))
        {
            next = next with { Sync = ValidateSync(input.Sync)?.OrNull() };
        }
        else if (has.Contains("sync.enabled") || has.Contains("sync.interval"))
        {
            var given = ValidateSync(input.Sync) ?? MailboxSyncSettings.None;
            var own = next.Sync ?? MailboxSyncSettings.None;
            next = next with
            {
                Sync = new MailboxSyncSettings(
                    has.Contains("sync.enabled") ? given.Enabled : own.Enabled,
                    has.Contains("sync.interval") ? given.Interval : own.Interval).OrNull(),
            };
        }

        next = next with { Retention = NextRetention(next.Retention, input.Retention, has) };

        if (next.Host != current.Host)
        {
            await hostGuard.EnsureAllowedAsync(next.Host, cancellationToken);
        }

        var replaced = await repository.ReplaceAsync(next, current.Etag, cancellationToken);
        await changes.ChangedAsync(current, replaced, cancellationToken);
        return replaced;
    }

    /// <summary>Deletes the mailbox; true when its OAuth grant was revoked at the provider first.</summary>
    public async Task<bool> DeleteAsync(string tenant, string mailboxId, string etag, CancellationToken cancellationToken)
    {
        MailboxValidator.ValidateMailboxId(mailboxId);

        // 1. Mark: from here on the mailbox is gone for every RPC, and a retry of this call (or the reconciler) finishes it.
        //    A stale etag is refused here, so a refused delete revokes nothing.
        var mailbox = await repository.MarkDeletingAsync(tenant, mailboxId, string.IsNullOrEmpty(etag) ? "*" : etag, cancellationToken);
        if (mailbox.DeletedAt is not null)
        {
            // The delete finished before (its reply was lost): answer as it did.
            return mailbox.RevokedAtProvider ?? false;
        }

        // 2. Revoke the grant at the provider (Authorization/GrantRevocation) while the credential is still stored; a retry
        //    runs it again, and finds nothing to revoke once step 3 removed the credential.
        var revoked = await revocation.RevokeAtProviderAsync(mailbox, cancellationToken);

        // 3. Remove what is stored for it; the mark becomes a short-lived tombstone that answers a retry of this call.
        await repository.FinishDeleteAsync(tenant, mailboxId, revoked, cancellationToken);
        await changes.DeletedAsync(tenant, mailboxId, cancellationToken);
        return revoked;
    }

    /// <summary>
    /// The retention policy after an update: <c>retention</c> replaces it whole (left out: keep); <c>retention.*</c> paths
    /// change one field each (left out: its default); the result is checked as a whole.
    /// </summary>
    private MailboxRetention? NextRetention(MailboxRetention? own, RetentionSpec? given, HashSet<string> has)
    {
        var max = pop3Options.Value.MaxConsumersPerMailbox;
        if (has.Contains("retention"))
        {
            return RetentionPolicyValidator.Validate(given, max)?.OrNull();
        }

        if (!has.Contains("retention.mode") && !has.Contains("retention.required_consumers") && !has.Contains("retention.delete_after"))
        {
            return own;
        }

        var current = own ?? MailboxRetention.Keep;
        var merged = new RetentionSpec(
            has.Contains("retention.mode") ? given is null ? RetentionMode.Keep : given.Mode : current.Mode,
            has.Contains("retention.required_consumers") ? given?.RequiredConsumers ?? [] : current.RequiredConsumers,
            has.Contains("retention.delete_after") ? given?.DeleteAfter : current.DeleteAfter);
        return RetentionPolicyValidator.Validate(merged, max)?.OrNull();
    }

    /// <summary>The caller's sync settings, checked (null when left out); an interval outside MinInterval..1 day is refused.</summary>
    private MailboxSyncSettings? ValidateSync(SyncSpec? sync)
    {
        if (sync is null)
        {
            return null;
        }

        if (sync.Interval is { } interval
            && (!sync.IntervalWholeMilliseconds || interval < syncOptions.Value.MinInterval || interval > SyncOptions.MaxInterval))
        {
            throw Failures.InvalidSyncInterval(syncOptions.Value.MinInterval, SyncOptions.MaxInterval);
        }

        return new MailboxSyncSettings(sync.Enabled, sync.Interval);
    }

    private async Task<MailboxState> NextStateAsync(MailboxRecord current, MailboxRecord next, MailboxState? requested, CancellationToken cancellationToken)
    {
        if (requested == MailboxState.Disabled)
        {
            return MailboxState.Disabled;
        }

        if (current.State != MailboxState.Disabled || requested is not (MailboxState.Active or MailboxState.PendingAuthorization))
        {
            throw Failures.InvalidStateTransition();
        }

        // Re-enabling: ACTIVE only when a credential is held, else the mailbox waits for authorization.
        var credential = await store.GetVersionedAsync(StoreKeys.Credential(next.Tenant, next.Id), cancellationToken);
        return credential is null ? MailboxState.PendingAuthorization : MailboxState.Active;
    }

    private (MailboxAuthKind Kind, string? Client, OAuthMechanism Mechanism, MailboxProvider? ClientProvider) ResolveAuthMethod(AuthMethodSpec? method)
    {
        switch (method)
        {
            case OAuthAuthSpec oauth:
                var name = oauth.Client;
                if (string.IsNullOrEmpty(name) || !options.Value.OAuthClients.TryGetValue(name, out var client))
                {
                    throw Failures.UnknownOAuthClient();
                }

                var mechanism = oauth.Mechanism switch
                {
                    null => throw Failures.InvalidOAuthMechanism(),
                    OAuthMechanism.Unspecified => OAuthMechanism.Xoauth2,
                    { } known => known,
                };
                var provider = client.Provider switch
                {
                    OAuthProviderKind.Microsoft => MailboxProvider.Microsoft,
                    OAuthProviderKind.Google => MailboxProvider.Google,
                    _ => MailboxProvider.Generic,
                };
                return (MailboxAuthKind.OAuth, name, mechanism, provider);
            case PasswordAuthSpec:
                return (MailboxAuthKind.Password, null, OAuthMechanism.Unspecified, null);
            default:
                throw Failures.AuthMethodRequired();
        }
    }

    private static (string Host, int Port, Pop3Security Security) ResolveServer(ServerSpec? server, MailboxProvider provider)
    {
        if (server is null || (string.IsNullOrEmpty(server.Host) && server.Port is null && server.Security == Pop3Security.Unspecified))
        {
            return ProviderPresets.ServerFor(provider) ?? throw Failures.ServerRequired();
        }

        var preset = ProviderPresets.ServerFor(provider);
        var security = MailboxValidator.ValidateSecurity(server.Security);
        var host = string.IsNullOrEmpty(server.Host) && preset is { } p ? p.Host : MailboxValidator.ValidateHost(server.Host);
        var port = server.Port is { } given ? MailboxValidator.ValidatePort(given) : ProviderPresets.DefaultPort(security);
        return (host, port, security);
    }

    private string NewMailboxId()
    {
        // Time-ordered so listings follow creation order; random tail so replicas never collide.
        Span<byte> bytes = stackalloc byte[12];
        var millis = time.GetUtcNow().ToUnixTimeMilliseconds();
        for (var i = 5; i >= 0; i--)
        {
            bytes[i] = (byte)(millis & 0xFF);
            millis >>= 8;
        }

        RandomNumberGenerator.Fill(bytes[6..]);
        return "mbx-" + Convert.ToHexStringLower(bytes);
    }
}
