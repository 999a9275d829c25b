using System.Diagnostics;
using StackExchange.Redis;

namespace MailGrpc.Tests.Faults;

/// <summary>
/// Tests on the rig's Redis Cluster that leave its nodes alone (event log, sync schedule, webhooks, SubscribeEvents): they
/// run beside the other collections, like the same scenarios on the single Redis.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RedisClusterCollectionDefinition : ICollectionFixture<RedisClusterRig>
{
    public const string Name = "redis-cluster";
}

/// <summary>
/// The tests that kill, freeze or reconfigure nodes of the rig's Redis Cluster (and bound a failover's time): one after
/// another, after the parallel collections (xunit runs DisableParallelization collections last), so no other test sees
/// the cluster while a master is down.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RedisClusterFailoverCollectionDefinition : ICollectionFixture<RedisClusterRig>
{
    public const string Name = "redis-cluster-failover";
}

/// <summary>
/// The rig's 6-node Redis Cluster (tests/rig/cluster.sh): started by the first collection that needs it (and stopped, by
/// pid, when the test process exits, if it was not running before), with helpers to SIGKILL the master of a key and bring
/// the node back. Each cluster collection has its own instance; they share the cluster.
/// </summary>
public sealed class RedisClusterRig : IAsyncLifetime
{
    private static readonly SemaphoreSlim StartGate = new(1, 1);
    private static bool s_stopAtExit;

    public string RigDirectory { get; } = Infrastructure.RigSettings.Directory;

    public IReadOnlyList<string> Endpoints { get; private set; } = [];

    /// <summary>The server's configuration string: short time-outs so a dead master fails calls fast.</summary>
    public string Configuration => string.Join(',', Endpoints) + ",abortConnect=false,connectTimeout=1000,syncTimeout=2000,asyncTimeout=2000,connectRetry=1";

    public ConnectionMultiplexer? Admin { get; private set; }

    public async Task InitializeAsync()
    {
        string output;
        await StartGate.WaitAsync();
        try
        {
            var running = File.Exists(Path.Combine(RigDirectory, "cluster", "cluster.env")) && await AllNodesAliveAsync();
            output = await RunScriptAsync("up");
            if (!running && !s_stopAtExit)
            {
                // Not at the end of a collection: the other cluster collection may run later in the same test run.
                s_stopAtExit = true;
                AppDomain.CurrentDomain.ProcessExit += (_, _) => RunScriptAsync("down").GetAwaiter().GetResult();
            }
        }
        finally
        {
            StartGate.Release();
        }

        var line = output.Split('\n').Single(l => l.StartsWith("MAILGRPC_RIG_CLUSTER=", StringComparison.Ordinal));
        Endpoints = line["MAILGRPC_RIG_CLUSTER=".Length..].Trim().Split(',');
        Admin = await ConnectionMultiplexer.ConnectAsync(string.Join(',', Endpoints) + ",allowAdmin=true,abortConnect=false");
    }

    public async Task DisposeAsync()
    {
        if (Admin is not null)
        {
            await Admin.DisposeAsync();
        }
    }

    /// <summary>The port of the master that serves <paramref name="key"/>'s slot now.</summary>
    public async Task<int> MasterPortOfAsync(string key)
    {
        var slot = Admin!.HashSlot(key);
        var nodes = await Admin!.GetServers().First(s => s.IsConnected).ClusterNodesAsync();
        var node = nodes!.Nodes.Single(n => !n.IsReplica && n.Slots.Any(r => r.From <= slot && slot <= r.To));
        return ((System.Net.IPEndPoint)node.EndPoint!).Port;
    }

    /// <summary>SIGKILLs the node on <paramref name="port"/> (by the pid in its pid file) and waits until it is gone.</summary>
    public async Task KillNodeAsync(int port)
    {
        var pid = int.Parse((await File.ReadAllTextAsync(Path.Combine(RigDirectory, "cluster", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "redis.pid"))).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        using var process = Process.GetProcessById(pid);
        process.Kill();
        await process.WaitForExitAsync();
    }

    /// <summary>The ports of the replicas the cluster gives the master on <paramref name="masterPort"/>.</summary>
    public async Task<IReadOnlyList<int>> ReplicaPortsOfAsync(int masterPort)
    {
        var nodes = await Admin!.GetServers().First(s => s.IsConnected).ClusterNodesAsync();
        var master = nodes!.Nodes.Single(n => !n.IsReplica && ((System.Net.IPEndPoint)n.EndPoint!).Port == masterPort);
        return nodes.Nodes.Where(n => n.IsReplica && n.ParentNodeId == master.NodeId).Select(n => ((System.Net.IPEndPoint)n.EndPoint!).Port).ToArray();
    }

    /// <summary>Freezes (SIGSTOP) or thaws (SIGCONT) the node on <paramref name="port"/>: a stalled replica acknowledges nothing.</summary>
    public async Task SignalNodeAsync(int port, string signal)
    {
        var pid = (await File.ReadAllTextAsync(Path.Combine(RigDirectory, "cluster", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "redis.pid"))).Trim();
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid]))!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>True when every replica of the cluster reports its replication link up (it has its master's data).</summary>
    public async Task<bool> ReplicasInSyncAsync()
    {
        foreach (var server in Admin!.GetServers().Where(s => s.IsConnected && s.IsReplica))
        {
            var info = (await server.InfoAsync("replication")).SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            if (!info.TryGetValue("master_link_status", out var link) || link != "up")
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Restarts dead nodes (they rejoin as replicas) and waits until the cluster is whole again.</summary>
    public async Task RestoreAsync()
    {
        var output = await RunScriptAsync("up");
        Assert.Contains("MAILGRPC_RIG_CLUSTER=", output, StringComparison.Ordinal);
        Endpoints = output.Split('\n').Single(l => l.StartsWith("MAILGRPC_RIG_CLUSTER=", StringComparison.Ordinal))["MAILGRPC_RIG_CLUSTER=".Length..].Trim().Split(',');
    }

    /// <summary>
    /// True when every master's replica acknowledges a write (WAIT), as MailGrpc's durable writes need: a replica whose link
    /// is up may still be loading what it synced and not answer WAIT yet.
    /// </summary>
    public async Task<bool> WritesReplicatedAsync()
    {
        try
        {
            await Admin!.ConfigureAsync();
            var db = Admin.GetDatabase();
            foreach (var master in Admin.GetServers().Where(s => s.IsConnected && !s.IsReplica))
            {
                var range = master.ClusterConfiguration?.Nodes.FirstOrDefault(n => Equals(n.EndPoint, master.EndPoint))?.Slots.FirstOrDefault();
                if (range is not { } slots)
                {
                    continue;
                }

                var key = Enumerable.Range(0, 1_000_000).Select(i => $"rig:probe:{i}").First(k => Admin.HashSlot(k) is var s && s >= slots.From && s <= slots.To);
                await db.StringSetAsync(key, "1", TimeSpan.FromMinutes(1));
                if ((long)await master.ExecuteAsync("WAIT", 1, 500) < 1)
                {
                    return false;
                }
            }

            return true;
        }
        catch (RedisException)
        {
            return false; // the topology is still settling
        }
    }

    private async Task<bool> AllNodesAliveAsync()
    {
        foreach (var port in Enumerable.Range(17001, 6))
        {
            var pidFile = Path.Combine(RigDirectory, "cluster", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "redis.pid");
            if (!File.Exists(pidFile) || !Directory.Exists("/proc/" + (await File.ReadAllTextAsync(pidFile)).Trim()))
            {
                return false;
            }
        }

        return true;
    }

    private static async Task<string> RunScriptAsync(string command)
    {
        var script = Path.Combine(Infrastructure.RepoPaths.Root, "tests", "rig", "cluster.sh");
        var start = new ProcessStartInfo("bash", [script, command]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"tests/rig/cluster.sh {command} failed ({process.ExitCode}): {await stderr}");
        }

        return await stdout;
    }
}
