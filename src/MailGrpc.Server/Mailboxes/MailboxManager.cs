using System.Security.Cryptography;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Network;
using MailGrpc.Server.Storage;
using Microsoft.Extensions.Options;
using V1 = MailGrpc.V1;

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
    Authorization.GrantRevocation revocation)
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 1000;
    private const string ListKind = "mailboxes";

    private static readonly HashSet<string> UpdatablePaths = new(StringComparer.Ordinal)
    {
        "display_name", "username", "provider", "server", "server.host", "server.port", "server.security", "auth_method", "state",
    };

    public async Task<MailboxRecord> CreateAsync(string tenant, V1.CreateMailboxRequest request, CancellationToken cancellationToken)
    {
        var input = request.Mailbox ?? throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidArgument, "mailbox", "mailbox is required.");
        var id = string.IsNullOrEmpty(request.MailboxId) ? NewMailboxId() : MailboxValidator.ValidateMailboxId(request.MailboxId);

        var (authKind, client, mechanism, clientProvider) = ResolveAuthMethod(input.AuthMethod);
        var provider = MailboxValidator.ValidateProvider(input.Provider);
        if (provider == V1.Provider.Unspecified)
        {
            provider = clientProvider ?? V1.Provider.Generic;
        }
        else if (clientProvider is { } fromClient && fromClient != provider && fromClient != V1.Provider.Generic)
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidProvider, "mailbox.provider", $"provider {provider} does not match the OAuth client's provider {fromClient}.");
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
            State = V1.MailboxState.PendingAuthorization,
            CreatedAt = now,
            UpdatedAt = now,
        };
        return await repository.CreateAsync(record, cancellationToken);
    }

    public async Task<MailboxRecord> GetAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        MailboxValidator.ValidateMailboxId(mailboxId);
        return await repository.GetRequiredAsync(tenant, mailboxId, cancellationToken);
    }

    public async Task<(IReadOnlyList<MailboxRecord> Mailboxes, string NextPageToken)> ListAsync(string tenant, int pageSize, string pageToken, CancellationToken cancellationToken)
    {
        if (pageSize < 0)
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidPageSize, "page_size", "page_size must not be negative.");
        }

        var size = pageSize == 0 ? DefaultPageSize : Math.Min(pageSize, MaxPageSize);
        var after = PageToken.Decode(pageToken, tenant, ListKind);
        var (page, lastId, more) = await repository.ListAsync(tenant, after, size, cancellationToken);
        var next = more && lastId is not null ? PageToken.Encode(tenant, ListKind, lastId) : string.Empty;
        return (page, next);
    }

    public async Task<MailboxRecord> UpdateAsync(string tenant, V1.UpdateMailboxRequest request, CancellationToken cancellationToken)
    {
        var input = request.Mailbox ?? throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidArgument, "mailbox", "mailbox is required.");
        MailboxValidator.ValidateMailboxId(input.MailboxId, "mailbox.mailbox_id");
        var paths = request.UpdateMask?.Paths.ToArray() ?? [];
        if (paths.Length == 0 || paths.Any(p => !UpdatablePaths.Contains(p)))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidUpdateMask, "update_mask", $"update_mask is required and may name only: {string.Join(", ", UpdatablePaths.Order(StringComparer.Ordinal))}.");
        }

        var current = await repository.GetRequiredAsync(tenant, input.MailboxId, cancellationToken);
        if (!string.IsNullOrEmpty(input.Etag) && input.Etag != current.Etag)
        {
            throw MailGrpcException.Aborted(ErrorReasons.EtagMismatch, "The mailbox was changed since this etag was read; read it again and retry.");
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
                State = credentialReset && current.State != V1.MailboxState.Disabled ? V1.MailboxState.PendingAuthorization : next.State,
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
                next = next with { Security = MailboxValidator.ValidateSecurity(input.Server?.Security ?? V1.Security.Unspecified) };
            }

            if (has.Contains("server.port"))
            {
                next = next with { Port = input.Server is { HasPort: true } s ? MailboxValidator.ValidatePort(s.Port) : ProviderPresets.DefaultPort(next.Security) };
            }
        }

        if (has.Contains("state"))
        {
            next = next with { State = await NextStateAsync(current, next, input.State, cancellationToken) };
        }

        if (next.Host != current.Host)
        {
            await hostGuard.EnsureAllowedAsync(next.Host, cancellationToken);
        }

        return await repository.ReplaceAsync(next, current.Etag, cancellationToken);
    }

    /// <summary>Deletes the mailbox; true when its OAuth grant was revoked at the provider first.</summary>
    public async Task<bool> DeleteAsync(string tenant, string mailboxId, string etag, CancellationToken cancellationToken)
    {
        MailboxValidator.ValidateMailboxId(mailboxId);

        // 1. Mark: from here on the mailbox is gone for every RPC, and a retry of this call (or the reconciler) finishes it.
        //    A stale etag is refused here, so a refused delete revokes nothing.
        var mailbox = await repository.MarkDeletingAsync(tenant, mailboxId, string.IsNullOrEmpty(etag) ? "*" : etag, cancellationToken);

        // 2. Revoke the grant at the provider (Authorization/GrantRevocation) while the credential is still stored; a retry
        //    runs it again, and finds nothing to revoke once step 3 removed the credential.
        var revoked = await revocation.RevokeAtProviderAsync(mailbox, cancellationToken);

        // 3. Remove what is stored for it, the mark last.
        await repository.FinishDeleteAsync(tenant, mailboxId, cancellationToken);
        return revoked;
    }

    private async Task<V1.MailboxState> NextStateAsync(MailboxRecord current, MailboxRecord next, V1.MailboxState requested, CancellationToken cancellationToken)
    {
        if (requested == V1.MailboxState.Disabled)
        {
            return V1.MailboxState.Disabled;
        }

        if (current.State != V1.MailboxState.Disabled || requested is not (V1.MailboxState.Active or V1.MailboxState.PendingAuthorization))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidStateTransition, "mailbox.state", "state can only be set to DISABLED, or from DISABLED back to ACTIVE.");
        }

        // Re-enabling: ACTIVE only when a credential is held, else the mailbox waits for authorization.
        var credential = await store.GetVersionedAsync(StoreKeys.Credential(next.Tenant, next.Id), cancellationToken);
        return credential is null ? V1.MailboxState.PendingAuthorization : V1.MailboxState.Active;
    }

    private (MailboxAuthKind Kind, string? Client, V1.SaslMechanism Mechanism, V1.Provider? ClientProvider) ResolveAuthMethod(V1.AuthMethod? method)
    {
        switch (method?.MethodCase)
        {
            case V1.AuthMethod.MethodOneofCase.Oauth:
                var name = method.Oauth.Client;
                if (string.IsNullOrEmpty(name) || !options.Value.OAuthClients.TryGetValue(name, out var client))
                {
                    throw MailGrpcException.InvalidArgument(ErrorReasons.UnknownOAuthClient, "mailbox.auth_method.oauth.client", $"auth_method.oauth.client must name an OAuth client configured on the server (MailGrpc:OAuthClients:<name>).");
                }

                if (!Enum.IsDefined(method.Oauth.Mechanism))
                {
                    throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidArgument, "mailbox.auth_method.oauth.mechanism", "auth_method.oauth.mechanism is not a known value.");
                }

                var mechanism = method.Oauth.Mechanism == V1.SaslMechanism.Unspecified ? V1.SaslMechanism.Xoauth2 : method.Oauth.Mechanism;
                var provider = client.Provider switch
                {
                    OAuthProviderKind.Microsoft => V1.Provider.Microsoft,
                    OAuthProviderKind.Google => V1.Provider.Google,
                    _ => V1.Provider.Generic,
                };
                return (MailboxAuthKind.OAuth, name, mechanism, provider);
            case V1.AuthMethod.MethodOneofCase.Password:
                return (MailboxAuthKind.Password, null, V1.SaslMechanism.Unspecified, null);
            default:
                throw MailGrpcException.InvalidArgument(ErrorReasons.AuthMethodRequired, "mailbox.auth_method", "auth_method is required: oauth (with a configured client name) or password.");
        }
    }

    private static (string Host, int Port, V1.Security Security) ResolveServer(V1.ServerSettings? server, V1.Provider provider)
    {
        if (server is null || (string.IsNullOrEmpty(server.Host) && !server.HasPort && server.Security == V1.Security.Unspecified))
        {
            return ProviderPresets.ServerFor(provider)
                ?? throw MailGrpcException.InvalidArgument(ErrorReasons.ServerRequired, "mailbox.server", "server is required for generic providers and password mailboxes without a provider preset.");
        }

        var preset = ProviderPresets.ServerFor(provider);
        var security = MailboxValidator.ValidateSecurity(server.Security);
        var host = string.IsNullOrEmpty(server.Host) && preset is { } p ? p.Host : MailboxValidator.ValidateHost(server.Host);
        var port = server.HasPort ? MailboxValidator.ValidatePort(server.Port) : ProviderPresets.DefaultPort(security);
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
