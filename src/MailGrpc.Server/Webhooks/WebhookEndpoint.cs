using System.Text.Json.Serialization;

namespace MailGrpc.Server.Webhooks;

/// <summary>
/// A webhook endpoint as stored. <see cref="Secret"/> and <see cref="PreviousSecret"/> are AES-GCM blobs
/// (<see cref="Authorization.Secrets.SecretProtector"/>, bound to tenant and endpoint), never the key.
/// </summary>
internal sealed record WebhookEndpoint(
    string Id,
    string Url,
    IReadOnlyList<string> EventTypes,
    bool Enabled,
    string Description,
    DateTimeOffset CreateTime,
    DateTimeOffset UpdateTime,
    DateTimeOffset SecretRotateTime,
    byte[] Secret,
    byte[]? PreviousSecret = null,
    DateTimeOffset? PreviousSecretExpiry = null)
{
    /// <summary>True when the endpoint takes events of <paramref name="type"/> (no types: all).</summary>
    public bool Accepts(string type) => EventTypes.Count == 0 || EventTypes.Contains(type, StringComparer.Ordinal);
}

/// <summary>An endpoint as callers see it: everything but the secrets.</summary>
internal sealed record WebhookView(
    string Id,
    string Url,
    IReadOnlyList<string> EventTypes,
    bool Enabled,
    string Description,
    DateTimeOffset CreateTime,
    DateTimeOffset UpdateTime,
    DateTimeOffset SecretRotateTime)
{
    public static WebhookView Of(WebhookEndpoint e) => new(e.Id, e.Url, e.EventTypes, e.Enabled, e.Description, e.CreateTime, e.UpdateTime, e.SecretRotateTime);
}

/// <summary>A created or rotated endpoint with its new secret (<c>whsec_…</c>), shown this once.</summary>
internal sealed record WebhookWithSecret(WebhookView Webhook, string Secret)
{
    /// <summary>Never the secret.</summary>
    public override string ToString() => $"WebhookWithSecret {{ Webhook = {Webhook}, Secret = whsec_… }}";
}

/// <summary>What a caller sets on an endpoint (create, or the masked fields of an update).</summary>
internal sealed record WebhookSpec(string Url, IReadOnlyList<string> EventTypes, bool Enabled, string Description);

/// <summary>One page of endpoints.</summary>
internal sealed record WebhookPage(IReadOnlyList<WebhookView> Webhooks, string NextPageToken);

/// <summary>A delivery given up after <c>MailGrpc:Webhooks:MaxAge</c>.</summary>
internal sealed record DeadLetter(string Id, Events.StoredEvent Event, int Attempts, int LastStatusCode, string LastError, DateTimeOffset DeadLetterTime);

/// <summary>One page of dead letters.</summary>
internal sealed record DeadLetterPage(IReadOnlyList<DeadLetter> DeadLetters, string NextPageToken);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(WebhookEndpoint))]
internal sealed partial class WebhookJsonContext : JsonSerializerContext;
