using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Events;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Webhooks;

/// <summary>
/// Webhook endpoints of a tenant: create (with a new secret shown once), read, list, update, delete, rotate the secret,
/// and the dead letters (list, redeliver). Endpoints are versioned JSON documents in the state store with their secrets
/// encrypted like mailbox credentials; each has a consumer group on the tenant's event stream, created with the endpoint
/// (so it receives the events appended from then on) and destroyed with it.
/// </summary>
internal sealed partial class WebhookManager(
    IStateStore store,
    SecretProtector protector,
    Lazy<RedisEventLog> eventLogAccess,
    DeadLetterStore deadLetters,
    WebhookUrlGuard urlGuard,
    IOptions<WebhookOptions> options,
    TimeProvider time)
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 100;
    public const int MaxDescriptionLength = 256;
    public static readonly IReadOnlyList<string> UpdatablePaths = ["url", "event_types", "enabled", "description"];
    private const string ListKind = "webhooks";
    private const string DeadLetterListKind = "dead-letters";
    private const int MaxWriteRetries = 5;

    // Lazy: on the embedded development store there is no Redis (every call is refused first).
    private RedisEventLog eventLog => eventLogAccess.Value;

    public async Task<WebhookWithSecret> CreateAsync(string tenant, WebhookSpec? spec, CancellationToken cancellationToken)
    {
        RequireRedis();
        if (spec is null) throw Failures.WebhookRequired();
        var (url, types, description) = await ValidateAsync(spec, cancellationToken);
        var existing = await store.IndexRangeAsync(WebhookKeys.TenantIndex(tenant), null, options.Value.MaxEndpointsPerTenant, cancellationToken);
        if (existing.Count >= options.Value.MaxEndpointsPerTenant) throw Failures.WebhookLimitReached(options.Value.MaxEndpointsPerTenant);

        var id = "wh-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var secret = WebhookSecret.Generate();
        var now = time.GetUtcNow();
        var endpoint = new WebhookEndpoint(id, url, types, spec.Enabled, description, now, now, now, Protect(secret, tenant, id));

        // The group first: the endpoint receives every event appended from the moment it exists.
        await eventLog.EnsureGroupAsync(tenant, WebhookKeys.Group(id), fromBeginning: false, cancellationToken);
        if (await store.PutVersionedAsync(WebhookKeys.Endpoint(tenant, id), Serialize(endpoint), null, cancellationToken) is null)
        {
            throw Failures.WebhookChangedConcurrently();
        }

        await store.IndexAddAsync(WebhookKeys.TenantIndex(tenant), id, cancellationToken);
        await store.SetAddAsync(WebhookKeys.All, [Member(tenant, id)], cancellationToken);
        return new WebhookWithSecret(WebhookView.Of(endpoint), secret.Serialized);
    }

    public async Task<WebhookView> GetAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        RequireRedis();
        return WebhookView.Of((await LoadRequiredAsync(tenant, ValidateId(id), cancellationToken)).Endpoint);
    }

    public async Task<WebhookPage> ListAsync(string tenant, int pageSize, string pageToken, CancellationToken cancellationToken)
    {
        RequireRedis();
        if (pageSize < 0) throw Failures.InvalidPageSize();
        var size = pageSize == 0 ? DefaultPageSize : Math.Min(pageSize, MaxPageSize);
        var after = PageToken.Decode(pageToken, tenant, ListKind);
        var ids = await store.IndexRangeAsync(WebhookKeys.TenantIndex(tenant), after, size + 1, cancellationToken);
        var page = new List<WebhookView>();
        foreach (var id in ids.Take(size))
        {
            if (await LoadAsync(tenant, id, cancellationToken) is { } loaded) page.Add(WebhookView.Of(loaded.Endpoint));
        }

        var next = ids.Count > size ? PageToken.Encode(tenant, ListKind, ids[size - 1]) : string.Empty;
        return new WebhookPage(page, next);
    }

    public async Task<WebhookView> UpdateAsync(string tenant, string id, WebhookSpec? spec, IReadOnlyCollection<string> paths, CancellationToken cancellationToken)
    {
        RequireRedis();
        if (spec is null) throw Failures.WebhookRequired();
        ValidateId(id);
        if (paths.Count == 0 || paths.Any(p => !UpdatablePaths.Contains(p))) throw Failures.InvalidUpdateMask(UpdatablePaths);
        var url = paths.Contains("url") ? (await urlGuard.EnsureAllowedAsync(spec.Url, cancellationToken)).OriginalString : null;
        var types = paths.Contains("event_types") ? EventNames.ValidateEventTypes(spec.EventTypes, "webhook.event_types").Order(StringComparer.Ordinal).ToList() : null;
        var description = paths.Contains("description") ? ValidateDescription(spec.Description) : null;
        var updated = await ChangeAsync(tenant, id, e => e with
        {
            Url = url ?? e.Url,
            EventTypes = types ?? e.EventTypes,
            Enabled = paths.Contains("enabled") ? spec.Enabled : e.Enabled,
            Description = description ?? e.Description,
            UpdateTime = time.GetUtcNow(),
        }, cancellationToken);
        return WebhookView.Of(updated);
    }

    public async Task<WebhookWithSecret> RotateSecretAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        RequireRedis();
        ValidateId(id);
        var secret = WebhookSecret.Generate();
        var overlap = options.Value.SecretRotationOverlap;
        var updated = await ChangeAsync(tenant, id, e =>
        {
            var now = time.GetUtcNow();
            return e with
            {
                Secret = Protect(secret, tenant, id),
                PreviousSecret = overlap > TimeSpan.Zero ? e.Secret : null,
                PreviousSecretExpiry = overlap > TimeSpan.Zero ? now + overlap : null,
                SecretRotateTime = now,
                UpdateTime = now,
            };
        }, cancellationToken);
        return new WebhookWithSecret(WebhookView.Of(updated), secret.Serialized);
    }

    public async Task DeleteAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        RequireRedis();
        ValidateId(id);
        var loaded = await LoadRequiredAsync(tenant, id, cancellationToken);
        // The document first: a worker that reloads it stops; the rest is cleaned up after (a retry finishes a crashed delete).
        await store.DeleteVersionedAsync(WebhookKeys.Endpoint(tenant, id), loaded.Version, cancellationToken);
        await store.IndexRemoveAsync(WebhookKeys.TenantIndex(tenant), id, cancellationToken);
        await store.SetRemoveAsync(WebhookKeys.All, [Member(tenant, id)], cancellationToken);
        await eventLog.DeleteGroupAsync(tenant, WebhookKeys.Group(id), cancellationToken);
        await deadLetters.DeleteAllAsync(tenant, id, cancellationToken);
    }

    public async Task<DeadLetterPage> ListDeadLettersAsync(string tenant, string id, int pageSize, string pageToken, CancellationToken cancellationToken)
    {
        RequireRedis();
        ValidateId(id);
        if (pageSize < 0) throw Failures.InvalidPageSize();
        var size = pageSize == 0 ? DefaultPageSize : Math.Min(pageSize, MaxPageSize);
        var after = PageToken.Decode(pageToken, tenant, DeadLetterListKind + ":" + id);
        if (after is not null && !EventNames.IsStreamId(after)) throw Failures.InvalidPageToken();
        await LoadRequiredAsync(tenant, id, cancellationToken);
        var page = await deadLetters.ListAsync(tenant, id, after, size + 1, cancellationToken);
        var next = page.Count > size ? PageToken.Encode(tenant, DeadLetterListKind + ":" + id, page[size - 1].Id) : string.Empty;
        return new DeadLetterPage(page.Take(size).ToList(), next);
    }

    public async Task<long> RedeliverAsync(string tenant, string id, IReadOnlyCollection<string> deadLetterIds, bool all, CancellationToken cancellationToken)
    {
        RequireRedis();
        ValidateId(id);
        if (all == (deadLetterIds.Count > 0) || deadLetterIds.Count > EventNames.MaxIdsPerCall || !deadLetterIds.All(EventNames.IsStreamId))
        {
            throw Failures.InvalidDeadLetterIds();
        }

        await LoadRequiredAsync(tenant, id, cancellationToken);
        return all
            ? await deadLetters.RedeliverAllAsync(tenant, id, cancellationToken)
            : await deadLetters.RedeliverAsync(tenant, id, deadLetterIds.Distinct(StringComparer.Ordinal).ToList(), cancellationToken);
    }

    /// <summary>An endpoint with its version, or null. For the delivery workers too.</summary>
    internal async Task<(WebhookEndpoint Endpoint, string Version)?> LoadAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        var stored = await store.GetVersionedAsync(WebhookKeys.Endpoint(tenant, id), cancellationToken);
        if (stored is not { } value) return null;
        var endpoint = JsonSerializer.Deserialize(value.Value, WebhookJsonContext.Default.WebhookEndpoint) ?? throw Failures.Internal();
        return (endpoint, value.Version);
    }

    /// <summary>The secrets that sign a delivery now: the current one, and the previous one during the rotation overlap.</summary>
    internal IReadOnlyList<WebhookSecret> SigningSecrets(string tenant, WebhookEndpoint endpoint)
    {
        var secrets = new List<WebhookSecret> { Unprotect(endpoint.Secret, tenant, endpoint.Id) };
        if (endpoint.PreviousSecret is { } previous && endpoint.PreviousSecretExpiry > time.GetUtcNow())
        {
            secrets.Add(Unprotect(previous, tenant, endpoint.Id));
        }

        return secrets;
    }

    /// <summary>Every endpoint of the deployment, as (tenant, id).</summary>
    internal async Task<IReadOnlyList<(string Tenant, string Id)>> ListAllAsync(CancellationToken cancellationToken)
    {
        var members = await store.SetMembersAsync(WebhookKeys.All, cancellationToken);
        return members.Select(m => m.Split('/', 2)).Where(p => p.Length == 2).Select(p => (p[0], p[1])).ToList();
    }

    private static string Member(string tenant, string id) => tenant + "/" + id;

    private void RequireRedis()
    {
        if (store.IsEmbedded) throw Failures.EventsRequireRedis();
    }

    private async Task<(string Url, IReadOnlyList<string> Types, string Description)> ValidateAsync(WebhookSpec spec, CancellationToken cancellationToken)
    {
        var types = EventNames.ValidateEventTypes(spec.EventTypes, "webhook.event_types").Order(StringComparer.Ordinal).ToList();
        var description = ValidateDescription(spec.Description);
        var uri = await urlGuard.EnsureAllowedAsync(spec.Url, cancellationToken);
        return (uri.OriginalString, types, description);
    }

    private static string ValidateDescription(string description) =>
        description.Length <= MaxDescriptionLength && !description.Any(char.IsControl) ? description : throw Failures.InvalidWebhookDescription();

    private static string ValidateId(string id) => IdPattern().IsMatch(id) ? id : throw Failures.InvalidWebhookId();

    private async Task<(WebhookEndpoint Endpoint, string Version)> LoadRequiredAsync(string tenant, string id, CancellationToken cancellationToken) =>
        await LoadAsync(tenant, id, cancellationToken) ?? throw Failures.WebhookNotFound(id);

    private async Task<WebhookEndpoint> ChangeAsync(string tenant, string id, Func<WebhookEndpoint, WebhookEndpoint> change, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxWriteRetries; attempt++)
        {
            var (current, version) = await LoadRequiredAsync(tenant, id, cancellationToken);
            var updated = change(current);
            if (await store.PutVersionedAsync(WebhookKeys.Endpoint(tenant, id), Serialize(updated), version, cancellationToken) is not null)
            {
                return updated;
            }
        }

        throw Failures.WebhookChangedConcurrently();
    }

    private static byte[] Serialize(WebhookEndpoint endpoint) => JsonSerializer.SerializeToUtf8Bytes(endpoint, WebhookJsonContext.Default.WebhookEndpoint);

    private byte[] Protect(WebhookSecret secret, string tenant, string id) =>
        protector.Protect(Encoding.ASCII.GetBytes(secret.Serialized), Context(tenant, id));

    private WebhookSecret Unprotect(byte[] blob, string tenant, string id)
    {
        var plain = protector.Unprotect(blob, Context(tenant, id), out _);
        try
        {
            return WebhookSecret.TryParse(Encoding.ASCII.GetString(plain), out var secret) ? secret : throw new SecretUnreadableException("The stored webhook secret is malformed.");
        }
        finally
        {
            Array.Clear(plain);
        }
    }

    private static SecretContext Context(string tenant, string id) => new("webhook-secret", tenant, id);

    [GeneratedRegex("^wh-[0-9a-f]{16}$")]
    private static partial Regex IdPattern();
}
