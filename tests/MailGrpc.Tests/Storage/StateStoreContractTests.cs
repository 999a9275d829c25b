using System.Text;
using MailGrpc.Server.Storage;
using MailGrpc.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace MailGrpc.Tests.Storage;

/// <summary>The same contract, run against Redis and the embedded store.</summary>
public sealed class StateStoreContractTests
{
    public static TheoryData<StoreKind> Stores => StoreKinds.All;

    private static (IStateStore Store, string Prefix) Create(StoreKind kind)
    {
        IStateStore store = kind == StoreKind.Redis ? new RedisStateStore(TestRedis.Connection) : new InMemoryStateStore(TimeProvider.System);
        return (store, $"test:{{c-{Guid.NewGuid():N}}}:");
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Versioned_documents_use_compare_and_set(StoreKind kind)
    {
        var (store, p) = Create(kind);
        var ct = TestContext.Current;
        var key = p + "doc";

        Assert.Null(await store.GetVersionedAsync(key, ct));
        var v1 = await store.PutVersionedAsync(key, "one"u8.ToArray(), expectedVersion: null, ct);
        Assert.NotNull(v1);
        Assert.Null(await store.PutVersionedAsync(key, "again"u8.ToArray(), expectedVersion: null, ct));
        Assert.Null(await store.PutVersionedAsync(key, "stale"u8.ToArray(), expectedVersion: "not-the-version", ct));

        var v2 = await store.PutVersionedAsync(key, "two"u8.ToArray(), v1, ct);
        Assert.NotNull(v2);
        Assert.NotEqual(v1, v2);
        var read = await store.GetVersionedAsync(key, ct);
        Assert.Equal("two", Encoding.UTF8.GetString(read!.Value.Value));
        Assert.Equal(v2, read.Value.Version);

        Assert.False(await store.DeleteVersionedAsync(key, v1!, ct));
        Assert.True(await store.DeleteVersionedAsync(key, v2!, ct));
        Assert.Null(await store.GetVersionedAsync(key, ct));
        Assert.False(await store.DeleteVersionedAsync(key, "*", ct));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_bounded_set_add_stops_at_its_limit_and_keeps_members_it_has(StoreKind kind)
    {
        var (store, p) = Create(kind);
        var ct = TestContext.Current;
        var key = p + "bounded";

        Assert.Equal(BoundedSetAdd.Added, await store.SetAddBoundedAsync(key, "a", 2, ct));
        Assert.Equal(BoundedSetAdd.Present, await store.SetAddBoundedAsync(key, "a", 2, ct));
        Assert.Equal(BoundedSetAdd.Added, await store.SetAddBoundedAsync(key, "b", 2, ct));
        Assert.Equal(BoundedSetAdd.Full, await store.SetAddBoundedAsync(key, "c", 2, ct));
        Assert.Equal(BoundedSetAdd.Present, await store.SetAddBoundedAsync(key, "b", 2, ct));
        Assert.Equal(["a", "b"], (await store.SetMembersAsync(key, ct)).Order(StringComparer.Ordinal));

        // A set with no room is not created for nothing.
        Assert.Equal(BoundedSetAdd.Full, await store.SetAddBoundedAsync(p + "none", "x", 0, ct));
        Assert.Empty(await store.SetMembersAsync(p + "none", ct));
        await store.DeleteAsync([key], ct);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Leases_are_exclusive_renewable_and_released_only_by_their_holder(StoreKind kind)
    {
        var (store, p) = Create(kind);
        var ct = TestContext.Current;
        var key = p + "lease";

        Assert.True(await store.SetIfAbsentAsync(key, "holder-a"u8.ToArray(), TimeSpan.FromSeconds(30), ct));
        Assert.False(await store.SetIfAbsentAsync(key, "holder-b"u8.ToArray(), TimeSpan.FromSeconds(30), ct));
        Assert.True(await store.RenewIfEqualAsync(key, "holder-a"u8.ToArray(), TimeSpan.FromSeconds(30), ct));
        Assert.False(await store.RenewIfEqualAsync(key, "holder-b"u8.ToArray(), TimeSpan.FromSeconds(30), ct));
        Assert.False(await store.DeleteIfEqualAsync(key, "holder-b"u8.ToArray(), ct));
        Assert.True(await store.DeleteIfEqualAsync(key, "holder-a"u8.ToArray(), ct));
        Assert.True(await store.SetIfAbsentAsync(key, "holder-b"u8.ToArray(), TimeSpan.FromSeconds(30), ct));
        await store.DeleteAsync([key], ct);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Values_expire(StoreKind kind)
    {
        var ct = TestContext.Current;
        string key;
        IStateStore store;
        FakeTimeProvider? clock = null;
        if (kind == StoreKind.Redis)
        {
            (store, var p) = Create(kind);
            key = p + "ttl";
        }
        else
        {
            clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
            store = new InMemoryStateStore(clock);
            key = "ttl";
        }

        // 3 s: the read right after the write must not race the expiry on a loaded machine (300 ms did, in a full run).
        await store.SetAsync(key, "x"u8.ToArray(), TimeSpan.FromSeconds(3), ct);
        Assert.NotNull(await store.GetAsync(key, ct));
        if (clock is not null)
        {
            clock.Advance(TimeSpan.FromSeconds(4));
            Assert.Null(await store.GetAsync(key, ct));
        }
        else
        {
            // Redis expires the key on its own clock: wait for that (bounded well above the 3 s TTL).
            await Eventually.WaitAsync(async () => await store.GetAsync(key, ct) is null, TimeSpan.FromSeconds(15), "the key to expire", ct);
        }
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Take_is_single_use(StoreKind kind)
    {
        var (store, p) = Create(kind);
        var ct = TestContext.Current;
        await store.SetAsync(p + "state", "v"u8.ToArray(), TimeSpan.FromMinutes(1), ct);
        var takes = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => store.TakeAsync(p + "state", ct)));
        Assert.Single(takes, t => t is not null);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Sets_and_ordered_indexes(StoreKind kind)
    {
        var (store, p) = Create(kind);
        var ct = TestContext.Current;

        Assert.Equal(2, await store.SetAddAsync(p + "set", ["a", "b", "a"], ct));
        Assert.Equal(new[] { true, false, true }, await store.SetContainsAsync(p + "set", ["a", "c", "b"], ct));
        Assert.Equal(1, await store.SetRemoveAsync(p + "set", ["a", "z"], ct));
        Assert.Equal(["b"], await store.SetMembersAsync(p + "set", ct));

        foreach (var id in new[] { "m-3", "m-1", "m-2", "m-10" })
        {
            await store.IndexAddAsync(p + "idx", id, ct);
        }

        Assert.Equal(["m-1", "m-10"], await store.IndexRangeAsync(p + "idx", null, 2, ct));
        Assert.Equal(["m-2", "m-3"], await store.IndexRangeAsync(p + "idx", "m-10", 10, ct));
        await store.IndexRemoveAsync(p + "idx", "m-2", ct);
        Assert.Equal(["m-3"], await store.IndexRangeAsync(p + "idx", "m-10", 10, ct));
        Assert.Empty(await store.IndexRangeAsync(p + "idx", "m-3", 10, ct));
        Assert.Equal(2, await store.DeleteAsync([p + "set", p + "idx", p + "missing", p + "x"], ct));
    }
}

/// <summary>The test's cancellation token (xunit 2 has no ambient one).</summary>
internal static class TestContext
{
    public static CancellationToken Current => CancellationToken.None;
}
