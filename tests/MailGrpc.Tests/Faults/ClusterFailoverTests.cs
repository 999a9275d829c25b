using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Health.V1;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Mailboxes;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace MailGrpc.Tests.Faults;

/// <summary>
/// The server on the rig's real 6-node Redis Cluster, with a master SIGKILLed in the middle of a loop of creates and
/// deletes: callers see only UNAVAILABLE (or their own DEADLINE_EXCEEDED), every retried call ends OK, readiness goes
/// NOT_SERVING and back, and after one reconciler scan no key of a deleted mailbox remains.
/// </summary>
[Collection(RedisClusterFailoverCollectionDefinition.Name)] // kills masters: alone, after the parallel collections
public sealed class ClusterFailoverTests(RedisClusterRig cluster, ITestOutputHelper output)
{
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Master_SIGKILL_during_creates_and_deletes_leaves_no_orphan_and_only_retryable_errors()
    {
        var tenant = TestTenant.Create("failover");
        var settings = MailGrpcTestHost.ApiKeySettings(tenant);
        settings["MailGrpc:Redis:Configuration"] = cluster.Configuration;
        settings["MailGrpc:Encryption:Keys:k1"] = RegistryHosts.EncryptionKey;
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        await using var host = new MailGrpcTestHost(settings);
        var client = host.Mailboxes(tenant.ApiKey);
        var health = new Health.HealthClient(host.Channel);

        // Warm up: the cluster serves and the server is ready.
        await WaitForAsync(async () => (await health.CheckAsync(new HealthCheckRequest())).Status == HealthCheckResponse.Types.ServingStatus.Serving, TimeSpan.FromSeconds(30), "readiness SERVING before the kill");

        var failures = new ConcurrentDictionary<string, int>();
        var retriedOk = 0;
        var lostCreates = 0;
        var goneOnRetry = 0;
        var deleted = new ConcurrentBag<string>();
        var goneIds = new ConcurrentBag<string>();
        var readiness = new ConcurrentBag<HealthCheckResponse.Types.ServingStatus>();
        using var stop = new CancellationTokenSource();

        async Task<bool> CallAsync(Func<Task> call, string what)
        {
            try
            {
                await call();
                return true;
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            {
                var info = ex.GetRpcStatus()?.GetDetail<Google.Rpc.ErrorInfo>();
                var condition = info is not null && info.Metadata.TryGetValue("store_condition", out var c) ? c : "-";
                failures.AddOrUpdate($"{what} {ex.StatusCode} {info?.Reason ?? "-"} {condition}", 1, (_, n) => n + 1);
                return false;
            }
        }

        async Task WorkerAsync(int worker)
        {
            // The caller's retry pacing (a real client backs off between retries of UNAVAILABLE).
            using var retryPace = new Pace(TimeSpan.FromMilliseconds(50));
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var id = $"fo-{worker}-{i}";
                var request = new CreateMailboxRequest { MailboxId = id, Mailbox = MailboxApiTests.PasswordMailbox($"{id}@example.com") };
                var attempts = 0;
                while (!await CallAsync(async () => await client.CreateMailboxAsync(request, deadline: DateTime.UtcNow + CallDeadline), "create"))
                {
                    attempts++;
                    await retryPace.NextAsync();
                }

                if (attempts > 0)
                {
                    Interlocked.Increment(ref retriedOk);
                }

                attempts = 0;
                while (true)
                {
                    try
                    {
                        if (await CallAsync(async () => await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id }, deadline: DateTime.UtcNow + CallDeadline), "delete"))
                        {
                            break;
                        }
                    }
                    catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound && attempts == 0)
                    {
                        // Only possible if the create's acknowledged write died with the master before it replicated (asserted 0).
                        Interlocked.Increment(ref lostCreates);
                        break;
                    }
                    catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
                    {
                        // An earlier attempt that finished left a tombstone, which answers the retry OK; so NOT_FOUND here
                        // means the create's document itself did not survive the failover. Checked below.
                        goneIds.Add(id);
                        break;
                    }

                    attempts++;
                    await retryPace.NextAsync();
                }

                if (attempts > 0)
                {
                    Interlocked.Increment(ref retriedOk);
                }

                deleted.Add(id);
            }
        }

        var workers = Enumerable.Range(0, 4).Select(w => Task.Run(() => WorkerAsync(w))).ToArray();
        var probe = Task.Run(async () =>
        {
            using var samples = new Pace(TimeSpan.FromMilliseconds(100));
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    readiness.Add((await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow + CallDeadline)).Status);
                }
                catch (RpcException)
                {
                    readiness.Add(HealthCheckResponse.Types.ServingStatus.Unknown);
                }

                await samples.NextAsync();
            }
        });

        // Let the loop run, then kill the master of the tenant index's slot (every create and delete writes it).
        await WaitForAsync(() => Task.FromResult(deleted.Count >= 40), TimeSpan.FromSeconds(60), "40 mailboxes created and deleted before the kill");
        var victim = await cluster.MasterPortOfAsync(StoreKeys.TenantMailboxes(tenant.Name));
        var killedAt = Stopwatch.StartNew();
        var before = deleted.Count;
        await cluster.KillNodeAsync(victim);
        output.WriteLine($"killed master 127.0.0.1:{victim} after {before} create/delete pairs");

        // The failover is over when a replica took the slot and the loop made progress again.
        await WaitForAsync(async () => await cluster.MasterPortOfAsync(StoreKeys.TenantMailboxes(tenant.Name)) != victim, TimeSpan.FromSeconds(60), "a replica promoted");
        var promoted = killedAt.Elapsed;
        var afterPromotion = deleted.Count;
        await WaitForAsync(() => Task.FromResult(deleted.Count >= afterPromotion + 40), TimeSpan.FromSeconds(90), "40 more pairs after the failover");
        var recovered = killedAt.Elapsed;
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        await probe;

        output.WriteLine($"FIGURE failover: replica promoted after {promoted.TotalSeconds:F1} s; loop recovered after {recovered.TotalSeconds:F1} s; {deleted.Count} pairs; {retriedOk} retried calls ended OK; {lostCreates} creates lost by async replication; {goneOnRetry} retried deletes answered NOT_FOUND");
        foreach (var (what, count) in failures.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"FIGURE failover error: {what} × {count}");
        }

        output.WriteLine($"FIGURE readiness: {string.Join(", ", readiness.GroupBy(r => r).Select(g => $"{g.Key} × {g.Count()}"))}");

        // Only retryable statuses were seen (CallAsync rethrows anything else, which fails the workers), and the window showed.
        Assert.NotEmpty(failures);
        Assert.All(failures.Keys, k => Assert.DoesNotContain("Internal", k, StringComparison.Ordinal));
        Assert.Contains(HealthCheckResponse.Types.ServingStatus.NotServing, readiness);
        await WaitForAsync(async () => (await health.CheckAsync(new HealthCheckRequest())).Status == HealthCheckResponse.Types.ServingStatus.Serving, TimeSpan.FromSeconds(30), "readiness SERVING after the failover");

        // One reconciler scan; then nothing of the tenant is left: no mailbox, no index entry, no credential or ledger key.
        var reconciler = host.Services.GetRequiredService<MailboxReconciler>();
        var first = await reconciler.RunFullScanAsync(CancellationToken.None);
        output.WriteLine($"FIGURE reconciler after the failover: {first}");
        var leftovers = await TenantKeysAsync(tenant.Name);

        // A retried delete answers OK whenever anything of the mailbox survived (its tombstone, its deletion mark or the
        // mailbox): NOT_FOUND only where nothing of it exists, i.e. the acknowledged create itself was lost to the
        // failover — which durable writes rule out (asserted below).
        foreach (var id in goneIds)
        {
            var stored = await host.Services.GetRequiredService<MailboxRepository>().GetStoredAsync(tenant.Name, id, CancellationToken.None);
            output.WriteLine($"FIGURE retried delete of {id} answered NOT_FOUND; its document now: {(stored is null ? "none (the create was lost)" : stored.DeletedAt is not null ? "tombstone" : stored.DeletingSince is not null ? "deletion mark" : "LIVE")}");
            if (stored is not null)
            {
                Interlocked.Increment(ref goneOnRetry);
            }
            else
            {
                Interlocked.Increment(ref lostCreates);
            }
        }

        output.WriteLine($"FIGURE after classification: {lostCreates} acknowledged creates lost by async replication; {goneOnRetry} retried deletes answered NOT_FOUND with the mailbox's document still there");
        Assert.Equal(0, goneOnRetry);

        // Nothing acknowledged is lost: a create answers OK only once a replica has the mailbox (DurableWriteTests).
        Assert.Equal(0, lostCreates);

        // Only tombstones (expiring, holding nothing of the mailbox) and self-expiring leases may remain.
        var repository = host.Services.GetRequiredService<MailboxRepository>();
        foreach (var key in leftovers.Where(k => k.EndsWith(":mailbox", StringComparison.Ordinal)))
        {
            var id = key[(key.IndexOf($"{{mbx:{tenant.Name}:", StringComparison.Ordinal) + $"{{mbx:{tenant.Name}:".Length)..key.IndexOf("}:", StringComparison.Ordinal)];
            var stored = await repository.GetStoredAsync(tenant.Name, id, CancellationToken.None);
            Assert.True(stored is { DeletedAt: not null, Username: "" }, $"{key} is not a tombstone");
            Assert.True(await cluster.Admin!.GetDatabase().KeyTimeToLiveAsync(key) is { } ttl && ttl <= MailboxRepository.TombstoneLifetime, $"{key} does not expire");
        }

        Assert.DoesNotContain(leftovers, k => !k.EndsWith(":pop3-lease", StringComparison.Ordinal) && !k.EndsWith(":refresh-lock", StringComparison.Ordinal) && !k.EndsWith(":mailbox", StringComparison.Ordinal));
        Assert.Empty((await client.ListMailboxesAsync(new ListMailboxesRequest())).Mailboxes);
        Assert.Equal(0, (await cluster.Admin!.GetDatabase().SortedSetLengthAsync(StoreKeys.TenantMailboxes(tenant.Name))));

        // A second scan finds nothing of this tenant to repair: its keys are the same after it. (Not this scan's counters:
        // they count every tenant on the cluster, and another host's reconciler may repair something of its own meanwhile.)
        static IEnumerable<string> Lasting(IEnumerable<string> keys) =>
            keys.Where(k => !k.EndsWith(":pop3-lease", StringComparison.Ordinal) && !k.EndsWith(":refresh-lock", StringComparison.Ordinal)).Order(StringComparer.Ordinal);
        var beforeSecond = Lasting(await TenantKeysAsync(tenant.Name)).ToList();
        var second = await reconciler.RunFullScanAsync(CancellationToken.None);
        Assert.True(second.ScanCompleted, second.ToString());
        Assert.Equal(beforeSecond, Lasting(await TenantKeysAsync(tenant.Name)));

        // The scan reaches every master: leftovers planted in slots of every master are all repaired. What is asserted is the
        // state after a completed scan, not its OrphansRemoved: the host's own background pass (same reconciler, every
        // ReconcileInterval) or another host's reconciler on the cluster may remove some of them first.
        var store = host.Services.GetRequiredService<IStateStore>();
        var masters = cluster.Admin!.GetServers().Where(s => s.IsConnected && !s.IsReplica).Select(s => ((System.Net.IPEndPoint)s.EndPoint).Port).ToHashSet();
        var planted = new List<string>();
        var plantedOn = new HashSet<int>();
        for (var i = 0; plantedOn.Count < masters.Count || planted.Count < 12; i++)
        {
            Assert.True(i < 1000, $"planted ids reach only masters {string.Join(", ", plantedOn)} of {string.Join(", ", masters)}");
            var id = $"planted-{i}";
            planted.Add(id);
            plantedOn.Add(await cluster.MasterPortOfAsync(StoreKeys.Credential(tenant.Name, id)));
            await CrashSafeRegistryTests.SeedMailboxStateAsync(store, tenant.Name, id);
        }

        var repaired = await reconciler.RunFullScanAsync(CancellationToken.None);
        output.WriteLine($"FIGURE reconciler scan after planting {planted.Count} orphans on masters {string.Join(", ", plantedOn.Order())}: {repaired}");
        Assert.True(repaired.ScanCompleted, repaired.ToString());
        foreach (var id in planted)
        {
            Assert.Empty(await CrashSafeRegistryTests.MailboxKeysAsync(store, tenant.Name, id));
        }

        await cluster.RestoreAsync();
    }

    [Fact]
    public async Task Credential_writes_wait_for_a_replica_on_the_cluster_and_never_stall_a_single_redis()
    {
        using var clusterConnection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(cluster.Configuration);
        var onCluster = new RedisStateStore(clusterConnection);
        var key = StoreKeys.Credential("durable", "mbx-" + Guid.NewGuid().ToString("N")[..8]);
        // After the failover test the killed master rejoins as a replica and resyncs; until the key's master has a replica
        // attached again WAIT rightly answers 0, so wait (bounded) for the write to reach one.
        await WaitForAsync(
            async () =>
            {
                await onCluster.PutVersionedAsync(key, [1, 2, 3], "*", CancellationToken.None);
                return await onCluster.WaitForReplicasAsync(key, 1, TimeSpan.FromSeconds(2), CancellationToken.None) >= 1;
            },
            TimeSpan.FromSeconds(60),
            "a credential write acknowledged by a replica");
        await onCluster.DeleteAsync([key], CancellationToken.None);

        // The rig's single Redis has no replica: WAIT is skipped, not waited out.
        var single = new RedisStateStore(TestRedis.Connection);
        var clock = Stopwatch.StartNew();
        Assert.Equal(0, await single.WaitForReplicasAsync(key, 1, TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
    }

    /// <summary>Every key of <paramref name="tenant"/>'s mailboxes, on every master.</summary>
    private async Task<List<string>> TenantKeysAsync(string tenant)
    {
        var keys = new List<string>();
        foreach (var server in cluster.Admin!.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            await foreach (var key in server.KeysAsync(pattern: $"mailgrpc:{{mbx:{tenant}:*", pageSize: 1000))
            {
                keys.Add(key.ToString());
            }
        }

        return keys;
    }

    // A condition that throws (the cluster is failing over) simply does not hold yet.
    internal static Task WaitForAsync(Func<Task<bool>> condition, TimeSpan timeout, string what) => Eventually.WaitAsync(condition, timeout, what);
}
