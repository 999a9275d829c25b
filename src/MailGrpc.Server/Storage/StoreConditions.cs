using StackExchange.Redis;

namespace MailGrpc.Server.Storage;

/// <summary>
/// Names the transient store condition behind an exception: the Redis error prefix (<c>CLUSTERDOWN</c>, <c>TRYAGAIN</c>,
/// <c>LOADING</c>, <c>READONLY</c>, <c>MASTERDOWN</c>, <c>MOVED</c>, <c>ASK</c>, <c>BUSY</c>, <c>NOREPLICAS</c>, <c>OOM</c>),
/// <c>CONNECTION_&lt;failure&gt;</c> for a lost or refused connection, <c>TIMEOUT</c>. All of them pass with time (a failover
/// completes, a replica finishes loading, a slot migration ends), so callers get UNAVAILABLE and retry. Anything else a
/// Redis server answers (a wrong type, a script error) is a bug and stays INTERNAL.
/// </summary>
internal static class StoreConditions
{
    /// <summary>A durable write (credential, mailbox document) that no replica acknowledged in time (MailGrpc's own check).</summary>
    public const string NoReplicas = "NOREPLICAS";

    private static readonly string[] TransientPrefixes =
    [
        "CLUSTERDOWN", "TRYAGAIN", "LOADING", "READONLY", "MASTERDOWN", "MOVED", "ASK", "BUSY", "NOREPLICAS", "OOM",
    ];

    /// <summary>The condition, or null when <paramref name="exception"/> is not a transient store failure.</summary>
    public static string? Classify(Exception exception) => exception switch
    {
        // Raised by the store itself (NOREPLICAS): already a STORE_UNAVAILABLE failure with its condition.
        Errors.MailGrpcException { Reason: Errors.ErrorReasons.StoreUnavailable } m when m.Metadata.TryGetValue(Errors.ExceptionMapper.StoreConditionKey, out var condition) => condition,
        RedisConnectionException c => "CONNECTION_" + c.FailureType.ToString().ToUpperInvariant(),
        RedisTimeoutException => "TIMEOUT",
        RedisServerException s => TransientPrefix(s.Message),
        // The multiplexer reports "no connection is available" (e.g. every node of a slot is down) as RedisConnectionException;
        // a command that failed while a failover moved its slot can surface as RedisCommandException with a server reply in it.
        RedisCommandException c => TransientPrefix(c.Message),
        _ => null,
    };

    /// <summary>The transient Redis error prefix a server reply starts with, or null.</summary>
    public static string? TransientPrefix(string? reply)
    {
        if (string.IsNullOrEmpty(reply))
        {
            return null;
        }

        foreach (var prefix in TransientPrefixes)
        {
            if (reply.StartsWith(prefix, StringComparison.Ordinal) && (reply.Length == prefix.Length || reply[prefix.Length] == ' '))
            {
                return prefix;
            }
        }

        return null;
    }
}
