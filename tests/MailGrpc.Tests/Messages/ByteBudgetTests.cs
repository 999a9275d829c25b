using MailGrpc.Server.Pop3;

namespace MailGrpc.Tests.Messages;

/// <summary>The process-wide byte budget: never over capacity, FIFO, cancellation gives nothing away.</summary>
[Trait("Layer", "Fast")]
public sealed class ByteBudgetTests
{
    [Fact]
    public async Task Reservations_wait_for_released_bytes_in_arrival_order()
    {
        var budget = new ByteBudget(100);
        var first = await budget.ReserveAsync(80, CancellationToken.None);
        Assert.Equal(20, budget.Available);

        var large = budget.ReserveAsync(60, CancellationToken.None).AsTask();
        var small = budget.ReserveAsync(10, CancellationToken.None).AsTask();
        // A reservation that can be granted is granted before ReserveAsync returns, so these are settled now.
        Assert.False(large.IsCompleted);
        Assert.False(small.IsCompleted); // FIFO: the small one does not overtake the large one

        first.Release(50);
        var second = await large.WaitAsync(TimeSpan.FromSeconds(5));
        var third = await small.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(100 - 30 - 60 - 10, budget.Available);

        first.Dispose();
        second.Dispose();
        third.Dispose();
        third.Dispose(); // idempotent
        Assert.Equal(100, budget.Available);
    }

    [Fact]
    public async Task A_cancelled_waiter_takes_nothing_and_unblocks_those_behind_it()
    {
        var budget = new ByteBudget(100);
        var held = await budget.ReserveAsync(90, CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var blocked = budget.ReserveAsync(50, cts.Token).AsTask();
        var behind = budget.ReserveAsync(10, CancellationToken.None).AsTask();
        Assert.False(behind.IsCompleted);

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked);
        using var got = await behind.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, budget.Available);
        held.Dispose();
        got.Dispose();
        Assert.Equal(100, budget.Available);
    }

    [Fact]
    public async Task A_request_above_capacity_is_clamped_so_it_can_ever_run()
    {
        var budget = new ByteBudget(100);
        using var all = await budget.ReserveAsync(1000, CancellationToken.None);
        Assert.Equal(0, budget.Available);
    }

    [Fact]
    public async Task Concurrent_users_never_exceed_the_capacity()
    {
        var budget = new ByteBudget(1000);
        long inUse = 0, peak = 0;
        await Parallel.ForAsync(0, 200, async (i, ct) =>
        {
            var bytes = 50 + (i % 7 * 40);
            using var r = await budget.ReserveAsync(bytes, ct);
            var now = Interlocked.Add(ref inUse, bytes);
            long seen;
            while ((seen = Interlocked.Read(ref peak)) < now && Interlocked.CompareExchange(ref peak, now, seen) != seen)
            {
            }

            await Task.Yield();
            Interlocked.Add(ref inUse, -bytes);
        });
        Assert.InRange(peak, 1, 1000);
        Assert.Equal(1000, budget.Available);
    }
}
