using System.Security.Cryptography;
using MailGrpc.Server.Configuration;
using StackExchange.Redis;

namespace MailGrpc.Server.Storage;

/// <summary>
/// <see cref="IStateStore"/> on Redis through one shared <see cref="IConnectionMultiplexer"/>. Reads stop waiting when the
/// call is cancelled; writes always run to their end (StackExchange.Redis bounds them with its own time-outs), because an
/// abandoned wait would leave the command running — a lease or lock set that nobody then releases. Versioned documents are
/// hashes <c>{v: value, e: version}</c>; compare-and-set runs as a Lua script, so it is atomic on one node and, because
/// each script touches one key, valid on Redis Cluster.
/// </summary>
internal sealed partial class RedisStateStore(IConnectionMultiplexer redis, RedisOptions options, ILogger<RedisStateStore> logger) : IStateStore
{
    /// <summary>With the default options (tests that build a store by hand).</summary>
    public RedisStateStore(IConnectionMultiplexer redis)
        : this(redis, new RedisOptions(), Microsoft.Extensions.Logging.Abstractions.NullLogger<RedisStateStore>.Instance)
    {
    }

    private const string PutVersionedScript = """
        local cur = redis.call('HGET', KEYS[1], 'e')
        if ARGV[2] == '' then
          if cur then return false end
        elseif ARGV[2] ~= '*' then
          if cur ~= ARGV[2] then return false end
        end
        redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[3])
        if ARGV[4] ~= '0' then
          redis.call('PEXPIRE', KEYS[1], ARGV[4])
        else
          redis.call('PERSIST', KEYS[1])
        end
        return ARGV[3]
        """;

    private const string DeleteVersionedScript = """
        local cur = redis.call('HGET', KEYS[1], 'e')
        if not cur then return 0 end
        if ARGV[1] ~= '*' and cur ~= ARGV[1] then return 0 end
        return redis.call('DEL', KEYS[1])
        """;

    private const string TouchVersionedScript = """
        local cur = redis.call('HGET', KEYS[1], 'e')
        if cur then
          redis.call('HSET', KEYS[1], 'e', cur)
          return 1
        end
        return 0
        """;

    private const string ConnectedReplicasScript = """
        return tonumber(string.match(redis.call('INFO', 'replication'), 'connected_slaves:(%d+)') or '0')
        """;

    private const string SetAddBoundedScript = """
        if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
        if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
        redis.call('SADD', KEYS[1], ARGV[1])
        return 1
        """;

    private const string RenewIfEqualScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        """;

    private const string DeleteIfEqualScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    private static readonly RedisValue ValueField = "v";
    private static readonly RedisValue VersionField = "e";

    private const string HealthProbeKey = "mailgrpc:{health}:probe";

    private readonly System.Collections.Concurrent.ConcurrentDictionary<SlotRange, string> _probeKeys = new();

    private readonly System.Collections.Concurrent.ConcurrentDictionary<System.Net.EndPoint, (int Count, long Until)> _replicaCounts = new();

    private IDatabase Db => redis.GetDatabase();

    public bool IsEmbedded => false;

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Db.PingAsync().WaitAsync(cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return false;
        }
    }

    public async Task<string?> ServingProblemAsync(CancellationToken cancellationToken)
    {
        try
        {
            var servers = redis.GetServers();
            if (servers.Any(s => s.ServerType == ServerType.Cluster))
            {
                return await ClusterServingProblemAsync(servers, cancellationToken);
            }

            if (!servers.Any(s => s.IsConnected && !s.IsReplica))
            {
                return "NO_PRIMARY";
            }

            // A keyed read reaches the primary the data lives on and fails while it is LOADING.
            await Db.KeyExistsAsync(HealthProbeKey).WaitAsync(cancellationToken);
            return null;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return StoreConditions.Classify(ex) ?? ex.GetType().Name;
        }
    }

    private async Task<string?> ClusterServingProblemAsync(IServer[] servers, CancellationToken cancellationToken)
    {
        var entry = servers.FirstOrDefault(s => s.IsConnected && s.ServerType == ServerType.Cluster);
        if (entry?.ClusterConfiguration is not { } nodes)
        {
            return "CONNECTION_NONE";
        }

        // The multiplexer's view of the cluster (refreshed on MOVED and on connection failures; CLUSTER commands need admin
        // mode). Each master's slots are probed with a keyed read, which goes where a mailbox command would go and fails
        // (CLUSTERDOWN, LOADING, a refused connection) just as it would.
        var covered = 0;
        foreach (var node in nodes.Nodes)
        {
            if (node.IsReplica || node.Slots.Count == 0)
            {
                continue;
            }

            if (node.IsNoAddr || node.Raw.Contains("fail", StringComparison.Ordinal))
            {
                return "MASTERDOWN";
            }

            foreach (var range in node.Slots)
            {
                await Db.KeyExistsAsync(ProbeKeyFor(range), CommandFlags.DemandMaster).WaitAsync(cancellationToken);
                covered += range.To - range.From + 1;
            }
        }

        return covered == 16384 ? null : "CLUSTERDOWN";
    }

    // A key whose hash slot lies in the range (found by trying names; cached, a cluster has few ranges).
    private string ProbeKeyFor(SlotRange range) =>
        _probeKeys.GetOrAdd(range, r =>
        {
            for (var i = 0; ; i++)
            {
                var key = "mailgrpc:{health-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}:probe";
                var slot = redis.HashSlot(key);
                if (slot >= r.From && slot <= r.To)
                {
                    return key;
                }
            }
        });

    public async Task<VersionedValue?> GetVersionedAsync(string key, CancellationToken cancellationToken)
    {
        var fields = await Db.HashGetAsync(key, [ValueField, VersionField]).WaitAsync(cancellationToken);
        if (fields[0].IsNull || fields[1].IsNull)
        {
            return null;
        }

        return new VersionedValue((byte[])fields[0]!, fields[1].ToString());
    }

    public Task<string?> PutVersionedAsync(string key, byte[] value, string? expectedVersion, CancellationToken cancellationToken) =>
        PutVersionedAsync(key, value, expectedVersion, TimeSpan.Zero, cancellationToken);

    public async Task<string?> PutVersionedAsync(string key, byte[] value, string? expectedVersion, TimeSpan expiry, CancellationToken cancellationToken)
    {
        var newVersion = NewVersion();
        var result = await Db.ScriptEvaluateAsync(
            PutVersionedScript,
            [key],
            [value, expectedVersion ?? string.Empty, newVersion, (long)expiry.TotalMilliseconds]);
        if (result.IsNull)
        {
            return null;
        }

        await AfterCredentialWriteAsync(key, cancellationToken);
        return newVersion;
    }

    public async Task<bool> DeleteVersionedAsync(string key, string expectedVersion, CancellationToken cancellationToken)
    {
        var result = await Db.ScriptEvaluateAsync(DeleteVersionedScript, [key], [expectedVersion]);
        return (long)result == 1;
    }

    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var value = await Db.StringGetAsync(key).WaitAsync(cancellationToken);
        return value.IsNull ? null : (byte[])value!;
    }

    public async Task SetAsync(string key, byte[] value, TimeSpan? expiry, CancellationToken cancellationToken)
    {
        await Db.StringSetAsync(key, value, expiry, When.Always);
        await AfterCredentialWriteAsync(key, cancellationToken);
    }

    // Credentials are the one state whose loss is fatal (a strict provider revokes the grant when an old refresh token is
    // replayed), so their writes wait for a replica; so do mailbox documents, so an acknowledged create, delete mark or
    // tombstone survives a failover. Everything else (index entries, ledgers) is repaired or retried. A write no replica
    // acknowledged in time stands on the master alone: the call fails (UNAVAILABLE, NOREPLICAS) rather than answer OK for
    // something a failover can take back, and its retry confirms the write (ConfirmDurableAsync) or makes it again.
    private async Task AfterCredentialWriteAsync(string key, CancellationToken cancellationToken)
    {
        if (!IsDurable(key))
        {
            return;
        }

        await RequireReplicasAsync(key);
    }

    private bool IsDurable(string key) =>
        options.DurableWriteReplicas > 0 && (StoreKeys.IsCredential(key) || StoreKeys.IsMailboxDocument(key));

    private async Task RequireReplicasAsync(string key)
    {
        // Not cancellable: the write is made; only a complete WAIT says whether it may be acknowledged.
        var acknowledged = await WaitForReplicasAsync(key, options.DurableWriteReplicas, options.DurableWriteTimeout, CancellationToken.None);
        if (acknowledged < 0)
        {
            LogReplicasMissing(logger, options.DurableWriteReplicas, options.DurableWriteTimeout);
            throw Errors.Failures.StoreUnavailable(
                StoreConditions.NoReplicas,
                new TimeoutException($"No replica acknowledged the write within {options.DurableWriteTimeout}."));
        }
    }

    public async Task ConfirmDurableAsync(string key, CancellationToken cancellationToken)
    {
        if (!IsDurable(key))
        {
            return;
        }

        // WAIT covers the writes made on this connection. The document may have been written by another server process (or
        // on a connection since replaced), so rewrite its version field (same value, a no-op for readers and compare-and-set,
        // but a write that enters the replication stream behind the document) and WAIT for that.
        await Db.ScriptEvaluateAsync(TouchVersionedScript, [key]);
        await RequireReplicasAsync(key);
    }

    // The replicas connected to the key's master, counted by INFO replication's connected_slaves: it includes a replica
    // still in its first sync (ROLE lists only those in sync). Such a replica holds nothing yet, yet the cluster would
    // promote it if the master died now, so a durable write must wait for it — and fail (NOREPLICAS) until it is in sync.
    // A replica that is down is not connected and not waited for: its master runs alone until it returns. Asked once per
    // node a second, not per write.
    private async Task<int> ConnectedReplicasAsync(IServer server, string key, CancellationToken cancellationToken)
    {
        var now = Environment.TickCount64;
        if (_replicaCounts.TryGetValue(server.EndPoint, out var cached) && cached.Until > now)
        {
            return cached.Count;
        }

        // INFO is an admin command for StackExchange.Redis; inside a script (sent by key, so to the key's master) it is not.
        var reply = await Db.ScriptEvaluateAsync(ConnectedReplicasScript, [key]).WaitAsync(cancellationToken);
        var count = reply.IsNull ? 0 : (int)reply;
        _replicaCounts[server.EndPoint] = (count, now + 1_000);
        return count;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A durable write (credential or mailbox document) did not reach {Replicas} replica(s) within {Timeout}; the call fails with UNAVAILABLE (NOREPLICAS) and its retry confirms it.")]
    private static partial void LogReplicasMissing(ILogger logger, int replicas, TimeSpan timeout);

    public Task<bool> SetIfAbsentAsync(string key, byte[] value, TimeSpan expiry, CancellationToken cancellationToken) =>
        Db.StringSetAsync(key, value, expiry, When.NotExists);

    public async Task<byte[]?> TakeAsync(string key, CancellationToken cancellationToken)
    {
        var value = await Db.StringGetDeleteAsync(key);
        return value.IsNull ? null : (byte[])value!;
    }

    public async Task<bool> RenewIfEqualAsync(string key, byte[] value, TimeSpan expiry, CancellationToken cancellationToken)
    {
        var result = await Db.ScriptEvaluateAsync(RenewIfEqualScript, [key], [value, (long)expiry.TotalMilliseconds]);
        return (long)result == 1;
    }

    public async Task<bool> DeleteIfEqualAsync(string key, byte[] value, CancellationToken cancellationToken)
    {
        var result = await Db.ScriptEvaluateAsync(DeleteIfEqualScript, [key], [value]);
        return (long)result == 1;
    }

    public async Task<long> DeleteAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        // One DEL per key: keys may belong to different slots on a cluster.
        var tasks = keys.Select(k => Db.KeyDeleteAsync(k)).ToArray();
        var deleted = await Task.WhenAll(tasks);
        return deleted.Count(d => d);
    }

    public Task<long> SetAddAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken) =>
        Db.SetAddAsync(key, ToValues(members));

    public async Task<BoundedSetAdd> SetAddBoundedAsync(string key, string member, int max, CancellationToken cancellationToken)
    {
        var result = (long)await Db.ScriptEvaluateAsync(SetAddBoundedScript, [key], [member, max]);
        return result switch { 1 => BoundedSetAdd.Added, 0 => BoundedSetAdd.Present, _ => BoundedSetAdd.Full };
    }

    public Task<long> SetRemoveAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken) =>
        Db.SetRemoveAsync(key, ToValues(members));

    public Task<bool[]> SetContainsAsync(string key, IReadOnlyList<string> members, CancellationToken cancellationToken) =>
        members.Count == 0 ? Task.FromResult(Array.Empty<bool>()) : Db.SetContainsAsync(key, ToValues(members)).WaitAsync(cancellationToken);

    public async Task<IReadOnlyList<string>> SetMembersAsync(string key, CancellationToken cancellationToken)
    {
        var members = await Db.SetMembersAsync(key).WaitAsync(cancellationToken);
        return members.Select(m => m.ToString()).ToArray();
    }

    public Task IndexAddAsync(string key, string member, CancellationToken cancellationToken) =>
        Db.SortedSetAddAsync(key, member, 0);

    public Task IndexRemoveAsync(string key, string member, CancellationToken cancellationToken) =>
        Db.SortedSetRemoveAsync(key, member);

    public async Task<IReadOnlyList<string>> IndexRangeAsync(string key, string? after, int count, CancellationToken cancellationToken)
    {
        // All scores are 0, so ZRANGEBYLEX orders members by bytes (ordinal).
        var values = await Db.SortedSetRangeByValueAsync(
            key,
            min: after is null ? default : (RedisValue)after,
            max: default,
            exclude: after is null ? Exclude.None : Exclude.Start,
            order: Order.Ascending,
            skip: 0,
            take: count).WaitAsync(cancellationToken);
        return values.Select(v => v.ToString()).ToArray();
    }

    public async Task<bool> IndexContainsAsync(string key, string member, CancellationToken cancellationToken) =>
        (await Db.SortedSetScoreAsync(key, member).WaitAsync(cancellationToken)).HasValue;

    public async Task<KeyScanPage> ScanAsync(string pattern, string cursor, int count, CancellationToken cancellationToken)
    {
        // Cursor "<master index>:<SCAN cursor>" over the masters in endpoint order: a cluster's keys are spread over them.
        var masters = redis.GetServers().Where(s => s.IsConnected && !s.IsReplica).OrderBy(s => s.EndPoint.ToString(), StringComparer.Ordinal).ToArray();
        var (index, position) = (0, "0");
        if (!string.IsNullOrEmpty(cursor))
        {
            var colon = cursor.IndexOf(':', StringComparison.Ordinal);
            index = int.Parse(cursor.AsSpan(0, colon), System.Globalization.CultureInfo.InvariantCulture);
            position = cursor[(colon + 1)..];
        }

        if (index >= masters.Length)
        {
            return new KeyScanPage([], string.Empty);
        }

        var reply = await masters[index].ExecuteAsync("SCAN", position, "MATCH", pattern, "COUNT", count).WaitAsync(cancellationToken);
        var parts = (RedisResult[])reply!;
        var next = (string)parts[0]!;
        var keys = ((RedisResult[])parts[1]!).Select(k => (string)k!).ToArray();
        var nextCursor = next != "0" ? $"{index}:{next}" : index + 1 < masters.Length ? $"{index + 1}:0" : string.Empty;
        return new KeyScanPage(keys, nextCursor);
    }

    public async Task<long> WaitForReplicasAsync(string key, int replicas, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // WAIT counts the replicas of the node the key lives on (its slot's master on a cluster). It runs on the same
        // connection as the key's commands (StackExchange.Redis keeps one interactive connection per endpoint, and
        // IServer.Execute uses it), so it covers the write just made. Asking for more replicas than are connected would
        // only wait out the time-out, so the count is capped: a Redis without replicas never waits.
        var server = redis.GetServer(key, flags: CommandFlags.DemandMaster);
        var expected = await ConnectedReplicasAsync(server, key, cancellationToken);
        var wanted = Math.Min(replicas, expected);
        if (wanted <= 0)
        {
            return 0;
        }

        var reply = await server.ExecuteAsync("WAIT", wanted, (long)timeout.TotalMilliseconds).WaitAsync(cancellationToken);
        var acknowledged = (long)reply;
        return acknowledged >= wanted ? acknowledged : -1;
    }

    private static RedisValue[] ToValues(IReadOnlyList<string> members) => members.Select(m => (RedisValue)m).ToArray();

    private static string NewVersion() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
}
