using System.Text;
using Grpc.Core;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Mailboxes;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;

namespace MailGrpc.Tests.Faults;

/// <summary>
/// Create and delete span two slots (mailbox, tenant index); these tests leave each possible half-done state behind, as a
/// crash between the steps would, and check that a retry of the same call, or one reconciler pass, ends in the intended
/// state. Run on both stores.
/// </summary>
public sealed class CrashSafeRegistryTests(RegistryHosts hosts) : IClassFixture<RegistryHosts>
{
    public static TheoryData<StoreKind> Stores => StoreKinds.All;

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_create_that_stopped_before_the_index_is_finished_by_its_retry(StoreKind kind)
    {
        var host = hosts.Host(kind);
        var client = host.Mailboxes(hosts.A.ApiKey);
        var id = "half-create-" + Guid.NewGuid().ToString("N")[..8];
        var request = new CreateMailboxRequest { MailboxId = id, Mailbox = MailboxApiTests.PasswordMailbox() };
        var created = (await client.CreateMailboxAsync(request)).Mailbox;

        // The crash: the index write never happened.
        var store = host.Services.GetRequiredService<IStateStore>();
        await store.IndexRemoveAsync(StoreKeys.TenantMailboxes(hosts.A.Name), id, CancellationToken.None);
        Assert.DoesNotContain(id, await ListAllAsync(client));

        var retried = (await client.CreateMailboxAsync(request)).Mailbox;
        Assert.Equal(created.Etag, retried.Etag);
        Assert.Contains(id, await ListAllAsync(client));

        // A different request for the same id is still refused.
        var other = new CreateMailboxRequest { MailboxId = id, Mailbox = MailboxApiTests.PasswordMailbox("bob@example.com") };
        await RpcAssert.FailsAsync(StatusCode.AlreadyExists, "MAILBOX_ALREADY_EXISTS", async () => await client.CreateMailboxAsync(other));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_delete_that_stopped_after_its_mark_is_finished_by_its_retry(StoreKind kind)
    {
        var host = hosts.Host(kind);
        var client = host.Mailboxes(hosts.A.ApiKey);
        var id = "half-delete-" + Guid.NewGuid().ToString("N")[..8];
        var created = (await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = MailboxApiTests.PasswordMailbox() })).Mailbox;
        var store = host.Services.GetRequiredService<IStateStore>();
        await SeedMailboxStateAsync(store, hosts.A.Name, id);

        // The crash: the mark is written, nothing else.
        await host.Services.GetRequiredService<MailboxRepository>().MarkDeletingAsync(hosts.A.Name, id, created.Etag, CancellationToken.None);
        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await client.GetMailboxAsync(new GetMailboxRequest { MailboxId = id }));
        Assert.DoesNotContain(id, await ListAllAsync(client));

        // The retry carries the etag the first attempt had: it finishes and answers OK.
        await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id, Etag = created.Etag });
        await AssertOnlyTombstoneLeftAsync(host, hosts.A.Name, id);
        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await client.GetMailboxAsync(new GetMailboxRequest { MailboxId = id }));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_finished_delete_leaves_a_tombstone_that_answers_its_retry_and_frees_the_id(StoreKind kind)
    {
        var host = hosts.Host(kind);
        var client = host.Mailboxes(hosts.A.ApiKey);
        var id = "tombstone-" + Guid.NewGuid().ToString("N")[..8];
        var created = (await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = MailboxApiTests.PasswordMailbox("dave@example.com") })).Mailbox;
        var store = host.Services.GetRequiredService<IStateStore>();
        await SeedMailboxStateAsync(store, hosts.A.Name, id);

        var first = await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id, Etag = created.Etag });
        await AssertOnlyTombstoneLeftAsync(host, hosts.A.Name, id);

        // The retry of a delete whose reply was lost (same request, etag included) answers as the first did.
        var retried = await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id, Etag = created.Etag });
        Assert.Equal(first.RevokedAtProvider, retried.RevokedAtProvider);
        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await client.GetMailboxAsync(new GetMailboxRequest { MailboxId = id }));
        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await client.UpdateMailboxAsync(new UpdateMailboxRequest { Mailbox = new Mailbox { MailboxId = id, DisplayName = "x" }, UpdateMask = new Google.Protobuf.WellKnownTypes.FieldMask { Paths = { "display_name" } } }));
        Assert.DoesNotContain(id, await ListAllAsync(client));

        // The reconciler leaves the tombstone alone (it expires on its own) and finds nothing to repair.
        var reconciler = host.Services.GetRequiredService<MailboxReconciler>();
        await reconciler.RunFullScanAsync(CancellationToken.None);
        await AssertOnlyTombstoneLeftAsync(host, hosts.A.Name, id);

        // The id is free: a create (of anything) replaces the tombstone, and the mailbox is persistent again.
        var again = (await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = MailboxApiTests.PasswordMailbox("erin@example.com") })).Mailbox;
        Assert.Equal("erin@example.com", again.Username);
        Assert.Contains(id, await ListAllAsync(client));
        if (kind == StoreKind.Redis)
        {
            Assert.Null(await TestRedis.Connection.GetDatabase().KeyTimeToLiveAsync(StoreKeys.Mailbox(hosts.A.Name, id)));
        }

        await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id });
    }

    /// <summary>
    /// What a finished delete may leave: the tombstone on the mailbox's own key, holding nothing of the mailbox (no username,
    /// host) and, on Redis, expiring within <see cref="MailboxRepository.TombstoneLifetime"/>.
    /// </summary>
    internal static async Task AssertOnlyTombstoneLeftAsync(MailGrpcTestHost host, string tenant, string id)
    {
        var store = host.Services.GetRequiredService<IStateStore>();
        Assert.Equal([StoreKeys.Mailbox(tenant, id)], await MailboxKeysAsync(store, tenant, id));
        var stored = await host.Services.GetRequiredService<MailboxRepository>().GetStoredAsync(tenant, id, CancellationToken.None);
        Assert.NotNull(stored?.DeletedAt);
        Assert.Equal(string.Empty, stored.Username);
        Assert.Equal(string.Empty, stored.Host);
        if (!store.IsEmbedded)
        {
            var ttl = await TestRedis.Connection.GetDatabase().KeyTimeToLiveAsync(StoreKeys.Mailbox(tenant, id));
            Assert.True(ttl is { } t && t > TimeSpan.Zero && t <= MailboxRepository.TombstoneLifetime, $"tombstone TTL {ttl}");
        }
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_create_of_an_id_whose_delete_stopped_half_way_finishes_the_delete_first(StoreKind kind)
    {
        var host = hosts.Host(kind);
        var client = host.Mailboxes(hosts.A.ApiKey);
        var id = "recreate-" + Guid.NewGuid().ToString("N")[..8];
        var created = (await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = MailboxApiTests.PasswordMailbox() })).Mailbox;
        var store = host.Services.GetRequiredService<IStateStore>();
        await SeedMailboxStateAsync(store, hosts.A.Name, id);
        await host.Services.GetRequiredService<MailboxRepository>().MarkDeletingAsync(hosts.A.Name, id, created.Etag, CancellationToken.None);

        var again = (await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = MailboxApiTests.PasswordMailbox("carol@example.com") })).Mailbox;
        Assert.Equal("carol@example.com", again.Username);
        Assert.Null(await store.GetVersionedAsync(StoreKeys.Credential(hosts.A.Name, id), CancellationToken.None));
        Assert.Empty(await store.SetMembersAsync(StoreKeys.Consumers(hosts.A.Name, id), CancellationToken.None));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task One_reconciler_scan_repairs_every_half_done_state_and_the_next_finds_none(StoreKind kind)
    {
        var host = hosts.Host(kind);
        var client = host.Mailboxes(hosts.B.ApiKey);
        var store = host.Services.GetRequiredService<IStateStore>();
        var repository = host.Services.GetRequiredService<MailboxRepository>();
        var tenant = hosts.B.Name;
        var suffix = Guid.NewGuid().ToString("N")[..8];

        // 1. A mailbox missing from the index (create crashed between its writes).
        var unindexed = "unindexed-" + suffix;
        await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = unindexed, Mailbox = MailboxApiTests.PasswordMailbox() });
        await store.IndexRemoveAsync(StoreKeys.TenantMailboxes(tenant), unindexed, CancellationToken.None);

        // 2. An index entry without a mailbox.
        var ghost = "ghost-" + suffix;
        await store.IndexAddAsync(StoreKeys.TenantMailboxes(tenant), ghost, CancellationToken.None);

        // 3. Keys of a mailbox that no longer exists (delete crashed after removing the document, or a credential written late).
        var orphan = "orphan-" + suffix;
        await SeedMailboxStateAsync(store, tenant, orphan);

        // 4. A deletion that stopped after its mark, long enough ago that no call is still finishing it.
        var stalled = "stalled-" + suffix;
        var created = (await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = stalled, Mailbox = MailboxApiTests.PasswordMailbox() })).Mailbox;
        await SeedMailboxStateAsync(store, tenant, stalled);
        var marked = await repository.MarkDeletingAsync(tenant, stalled, created.Etag, CancellationToken.None);
        await BackdateMarkAsync(store, marked);

        var reconciler = host.Services.GetRequiredService<MailboxReconciler>();
        // Other hosts on the same rig Redis run their own background reconcilers, so one of them may make a repair before
        // this scan does: what must hold is the state after a completed scan, not which scan's counter moved.
        var first = await reconciler.RunFullScanAsync(CancellationToken.None);
        Assert.True(first.ScanCompleted, first.ToString());

        var listed = await ListAllAsync(client);
        Assert.Contains(unindexed, listed);
        Assert.DoesNotContain(ghost, listed);
        Assert.False(await store.IndexContainsAsync(StoreKeys.TenantMailboxes(tenant), ghost, CancellationToken.None));
        Assert.Empty(await MailboxKeysAsync(store, tenant, orphan));
        await AssertOnlyTombstoneLeftAsync(host, tenant, stalled);

        // Nothing of this tenant is left to repair.
        var second = await reconciler.RunFullScanAsync(CancellationToken.None);
        Assert.True(second.ScanCompleted);
        Assert.False(await store.IndexContainsAsync(StoreKeys.TenantMailboxes(tenant), ghost, CancellationToken.None));
        Assert.Contains(unindexed, await ListAllAsync(client));
    }

    internal static async Task SeedMailboxStateAsync(IStateStore store, string tenant, string id)
    {
        await store.PutVersionedAsync(StoreKeys.Credential(tenant, id), Encoding.UTF8.GetBytes("sealed-credential"), "*", CancellationToken.None);
        await store.SetAddAsync(StoreKeys.Consumers(tenant, id), ["billing"], CancellationToken.None);
        await store.SetAddAsync(StoreKeys.Ledger(tenant, id, "billing"), ["uid-1", "uid-2"], CancellationToken.None);
        await store.SetAddAsync(StoreKeys.PendingStates(tenant, id), ["st-" + id], CancellationToken.None);
        await store.SetAsync(StoreKeys.PendingAuthorization("st-" + id), Encoding.UTF8.GetBytes("pending"), TimeSpan.FromMinutes(5), CancellationToken.None);
    }

    /// <summary>The keys MailGrpc writes for a mailbox (leases and locks expire on their own and are not counted).</summary>
    internal static async Task<IReadOnlyList<string>> MailboxKeysAsync(IStateStore store, string tenant, string id)
    {
        // Braces are not special in a Redis MATCH glob.
        var found = new List<string>();
        var cursor = string.Empty;
        do
        {
            var page = await store.ScanAsync($"mailgrpc:{StoreKeys.MailboxTag(tenant, id)}:*", cursor, 1000, CancellationToken.None);
            found.AddRange(page.Keys);
            cursor = page.Cursor;
        }
        while (cursor.Length > 0);

        if (await store.GetAsync(StoreKeys.PendingAuthorization("st-" + id), CancellationToken.None) is not null)
        {
            found.Add(StoreKeys.PendingAuthorization("st-" + id));
        }

        return found;
    }

    private static async Task BackdateMarkAsync(IStateStore store, MailboxRecord marked)
    {
        var key = StoreKeys.Mailbox(marked.Tenant, marked.Id);
        var stored = await store.GetVersionedAsync(key, CancellationToken.None);
        var json = Encoding.UTF8.GetString(stored!.Value.Value);
        var since = marked.DeletingSince!.Value;
        var old = since.AddMinutes(-5);
        json = json.Replace(System.Text.Json.JsonSerializer.Serialize(since), System.Text.Json.JsonSerializer.Serialize(old), StringComparison.Ordinal);
        Assert.NotNull(await store.PutVersionedAsync(key, Encoding.UTF8.GetBytes(json), stored.Value.Version, CancellationToken.None));
    }

    private static async Task<List<string>> ListAllAsync(MailboxService.MailboxServiceClient client)
    {
        var ids = new List<string>();
        var token = string.Empty;
        do
        {
            var page = await client.ListMailboxesAsync(new ListMailboxesRequest { PageSize = 1000, PageToken = token });
            ids.AddRange(page.Mailboxes.Select(m => m.MailboxId));
            token = page.NextPageToken;
        }
        while (token.Length > 0);
        return ids;
    }
}
