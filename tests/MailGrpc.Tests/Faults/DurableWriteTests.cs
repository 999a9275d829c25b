using Grpc.Core;
using MailGrpc.Server.Storage;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Mailboxes;
using MailGrpc.V1;
using Xunit.Abstractions;

namespace MailGrpc.Tests.Faults;

/// <summary>
/// An acknowledged create must survive a master SIGKILL. On the rig's Redis Cluster, the replica of the master that holds a
/// new mailbox's document is frozen (SIGSTOP), so no write reaches it: the create must not answer OK (the document stands
/// on the master alone), nor may its retry; then the master is killed, the replica thawed and promoted, and the retry
/// answers OK with the mailbox there. Before durable writes were checked, the first create answered OK and the mailbox
/// was gone after the failover — the "lost create" the failover loop saw in about half its runs (there, the replica had
/// just been restarted and had not finished its first sync when its master died).
/// </summary>
[Collection(RedisClusterFailoverCollectionDefinition.Name)] // kills masters: alone, after the parallel collections
public sealed class DurableWriteTests(RedisClusterRig cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task A_replica_still_in_its_first_sync_is_waited_for_not_skipped()
    {
        var tenant = TestTenant.Create("syncing");
        await using var host = Host(tenant);
        var client = host.Mailboxes(tenant.ApiKey);
        await ClusterFailoverTests.WaitForAsync(cluster.ReplicasInSyncAsync, TimeSpan.FromSeconds(60), "every replica in sync");

        var id = "syncing-" + Guid.NewGuid().ToString("N")[..8];
        var request = new CreateMailboxRequest { MailboxId = id, Mailbox = MailboxApiTests.PasswordMailbox($"{id}@example.com") };
        var master = await cluster.MasterPortOfAsync(StoreKeys.Mailbox(tenant.Name, id));
        var replica = Assert.Single(await cluster.ReplicaPortsOfAsync(master));
        var masterServer = cluster.Admin!.GetServer("127.0.0.1", master);

        // The replica restarts empty and asks for a full sync, which its master holds back
        // (repl-diskless-sync-delay) — the state the failover loop's replicas were in when their master died.
        await masterServer.ConfigSetAsync("repl-diskless-sync-delay", "3600");
        try
        {
            await cluster.KillNodeAsync(replica);
            // The RDB a replica wrote at its last sync would let it resume with a partial sync; without it, it starts empty.
            File.Delete(Path.Combine(cluster.RigDirectory, "cluster", replica.ToString(System.Globalization.CultureInfo.InvariantCulture), "dump.rdb"));
            await cluster.RestoreAsync();
            await ClusterFailoverTests.WaitForAsync(
                async () => (await masterServer.InfoAsync("replication")).SelectMany(g => g).Any(p => p.Key.StartsWith("slave", StringComparison.Ordinal) && p.Value.Contains("state=wait_bgsave", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(30),
                "the restarted replica waiting for its sync");

            // ROLE lists no replica now; INFO counts it. The write is not acknowledged while the replica has nothing.
            var refused = await RpcAssert.FailsAsync(StatusCode.Unavailable, "STORE_UNAVAILABLE", async () => await client.CreateMailboxAsync(request));
            Assert.Equal("NOREPLICAS", refused.GetRpcStatus()?.GetDetail<Google.Rpc.ErrorInfo>()?.Metadata["store_condition"]);
        }
        finally
        {
            await masterServer.ConfigSetAsync("repl-diskless-sync-delay", "5");
        }

        // Once the sync ran, the caller's retry confirms the document and answers OK. A replica that reports itself in sync
        // may still be loading the RDB and not yet answer WAIT's GETACK: until then the retry is refused NOREPLICAS again
        // (retryable, as the caller is told), never OK.
        await ClusterFailoverTests.WaitForAsync(cluster.ReplicasInSyncAsync, TimeSpan.FromSeconds(60), "the replica in sync");
        Mailbox? created = null;
        await ClusterFailoverTests.WaitForAsync(
            async () =>
            {
                try
                {
                    created = (await client.CreateMailboxAsync(request)).Mailbox;
                    return true;
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && ex.GetRpcStatus()?.GetDetail<Google.Rpc.ErrorInfo>()?.Metadata["store_condition"] == "NOREPLICAS")
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(30),
            "the retried create answers OK once the replica acknowledges");
        Assert.Equal(id, created!.MailboxId);
        await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id });
    }

    private MailGrpcTestHost Host(TestTenant tenant)
    {
        var settings = MailGrpcTestHost.ApiKeySettings(tenant);
        settings["MailGrpc:Redis:Configuration"] = cluster.Configuration;
        settings["MailGrpc:Redis:DurableWriteTimeout"] = "00:00:00.300";
        settings["MailGrpc:Encryption:Keys:k1"] = RegistryHosts.EncryptionKey;
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        return new MailGrpcTestHost(settings);
    }

    [Fact]
    public async Task A_create_no_replica_acknowledged_answers_UNAVAILABLE_and_its_retry_after_failover_finds_it()
    {
        var tenant = TestTenant.Create("durable");
        await using var host = Host(tenant);
        var client = host.Mailboxes(tenant.ApiKey);

        // A whole cluster whose replicas have their masters' data (a replica still in its first sync would make every
        // write to its master answer NOREPLICAS, which is right, but not this test).
        await ClusterFailoverTests.WaitForAsync(cluster.ReplicasInSyncAsync, TimeSpan.FromSeconds(60), "every replica in sync");

        var id = "durable-" + Guid.NewGuid().ToString("N")[..8];
        var request = new CreateMailboxRequest { MailboxId = id, Mailbox = MailboxApiTests.PasswordMailbox($"{id}@example.com") };
        var master = await cluster.MasterPortOfAsync(StoreKeys.Mailbox(tenant.Name, id));
        var replica = Assert.Single(await cluster.ReplicaPortsOfAsync(master));
        output.WriteLine($"mailbox {id} on master {master}, replica {replica}");

        await cluster.SignalNodeAsync(replica, "STOP");
        try
        {
            // The first attempt writes the document on the master and waits for the replica in vain; the retry finds the
            // document (same registration) and must not answer OK either while no replica has it.
            foreach (var attempt in new[] { "first", "retry" })
            {
                var refused = await RpcAssert.FailsAsync(StatusCode.Unavailable, "STORE_UNAVAILABLE", async () => await client.CreateMailboxAsync(request));
                Assert.Equal("NOREPLICAS", refused.GetRpcStatus()?.GetDetail<Google.Rpc.ErrorInfo>()?.Metadata["store_condition"]);
                output.WriteLine($"{attempt} create: {refused.Status.Detail}");
            }

            // The master dies with the document no replica has.
            await cluster.KillNodeAsync(master);
        }
        finally
        {
            await cluster.SignalNodeAsync(replica, "CONT");
        }

        await ClusterFailoverTests.WaitForAsync(async () => await cluster.MasterPortOfAsync(StoreKeys.Mailbox(tenant.Name, id)) == replica, TimeSpan.FromSeconds(60), "the replica promoted");

        // The caller's retry converges: OK, and the mailbox is there (created again, or found and confirmed).
        Mailbox? created = null;
        await ClusterFailoverTests.WaitForAsync(
            async () =>
            {
                try
                {
                    created = (await client.CreateMailboxAsync(request, deadline: DateTime.UtcNow.AddSeconds(5))).Mailbox;
                    return true;
                }
                catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
                {
                    return false;
                }
            },
            TimeSpan.FromSeconds(60),
            "the retried create answers OK");
        Assert.Equal(id, created!.MailboxId);
        Assert.Equal(id, (await client.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox.MailboxId);
        await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id });

        // The old master comes back as a replica and syncs first; the next test's durable writes need it to answer WAIT.
        await cluster.RestoreAsync();
        await ClusterFailoverTests.WaitForAsync(cluster.ReplicasInSyncAsync, TimeSpan.FromSeconds(60), "every replica's link up after the restore");
        await ClusterFailoverTests.WaitForAsync(cluster.WritesReplicatedAsync, TimeSpan.FromSeconds(60), "every master's writes acknowledged by a replica after the restore");
    }
}
