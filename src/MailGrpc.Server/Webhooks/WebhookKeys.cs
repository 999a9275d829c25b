namespace MailGrpc.Server.Webhooks;

/// <summary>
/// The Redis keys of webhook endpoints. A tenant's endpoint keys share the hash tag <c>{whk:&lt;tenant&gt;}</c> (one
/// Redis Cluster slot); the deployment-wide list of endpoints (which replicas scan for work) is one small set of its own.
/// </summary>
internal static class WebhookKeys
{
    private const string Prefix = "mailgrpc:";

    private static string Tag(string tenant) => $"{{whk:{tenant}}}";

    /// <summary>The endpoint document (JSON with its encrypted secrets, versioned).</summary>
    public static string Endpoint(string tenant, string id) => $"{Prefix}{Tag(tenant)}:endpoint:{id}";

    /// <summary>The ordered index of a tenant's endpoint ids.</summary>
    public static string TenantIndex(string tenant) => $"{Prefix}{Tag(tenant)}:endpoints";

    /// <summary>The lease of the replica delivering the endpoint.</summary>
    public static string Lease(string tenant, string id) => $"{Prefix}{Tag(tenant)}:lease:{id}";

    /// <summary>The endpoint's dead letters (a stream, oldest first).</summary>
    public static string DeadLetters(string tenant, string id) => $"{Prefix}{Tag(tenant)}:dead:{id}";

    /// <summary>Dead letters queued for delivery again (a stream the lease holder drains).</summary>
    public static string Redeliveries(string tenant, string id) => $"{Prefix}{Tag(tenant)}:redeliver:{id}";

    /// <summary>Every endpoint of the deployment as <c>tenant/id</c>: what replicas scan for endpoints to deliver.</summary>
    public const string All = Prefix + "{whk}:all";

    /// <summary>The endpoint's consumer group on the tenant's event stream.</summary>
    public static string Group(string id) => Events.EventNames.WebhookGroupPrefix + id;
}
