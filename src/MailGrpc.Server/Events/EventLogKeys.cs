namespace MailGrpc.Server.Events;

/// <summary>
/// The Redis key of a tenant's event stream. It carries the hash tag <c>{evt:&lt;tenant&gt;}</c>: every stream command
/// (XADD, XREADGROUP, XACK, XAUTOCLAIM, XTRIM) names one key, so each works on Redis Cluster, and one tenant's feed is one
/// slot (its order is the stream's order). Tenant names are validated elsewhere to exclude braces and colons.
/// </summary>
internal static class EventLogKeys
{
    public static string Stream(string tenant)
    {
        ArgumentException.ThrowIfNullOrEmpty(tenant);
        if (tenant.AsSpan().IndexOfAny("{}") >= 0) throw new ArgumentException("A tenant name has no braces.", nameof(tenant));
        return $"mailgrpc:{{evt:{tenant}}}:events";
    }
}
