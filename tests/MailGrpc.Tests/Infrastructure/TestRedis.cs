using StackExchange.Redis;

namespace MailGrpc.Tests.Infrastructure;

/// <summary>
/// The rig's Redis (tests/rig/up.sh starts it; <see cref="RigSettings.Redis"/>, MAILGRPC_TEST_REDIS overrides). Tests fail, never skip,
/// when it is not running.
/// </summary>
public static class TestRedis
{
    private static readonly Lazy<ConnectionMultiplexer> Shared = new(() =>
    {
        try
        {
            // The tests' own reads and checks (not the servers', which use Configuration): generous timeouts, since with four
            // collections at once on two busy cores a synchronous read waited on a starved thread pool past the default 5 s
            // (RedisTimeoutException in a full run) while Redis itself was fine.
            return ConnectionMultiplexer.Connect(Configuration + ",allowAdmin=true,syncTimeout=30000,asyncTimeout=30000");
        }
        catch (RedisConnectionException ex)
        {
            throw new InvalidOperationException($"Redis is not reachable at {Configuration}: start the rig with tests/rig/up.sh.", ex);
        }
    });

    public static string Configuration { get; } = Environment.GetEnvironmentVariable("MAILGRPC_TEST_REDIS") ?? RigSettings.Redis;

    public static IConnectionMultiplexer Connection => Shared.Value;

    /// <summary>Every key whose name contains <paramref name="fragment"/> (SCAN, not KEYS).</summary>
    public static IReadOnlyList<string> KeysContaining(string fragment)
    {
        var server = Connection.GetServers()[0];
        return server.Keys(pattern: "*" + fragment + "*", pageSize: 1000).Select(k => k.ToString()).ToArray();
    }
}
