using MailGrpc.Server.Errors;
using MailGrpc.Server.Pop3;
using Microsoft.Extensions.Time.Testing;

namespace MailGrpc.Tests.Pipeline;

/// <summary>
/// The byte budget's rules, pinned without a rig (docs/messages.md, "Limits"): fair share per stream, at most two batches
/// per stream and the second only within the fair share, RESOURCE_EXHAUSTED with a reason after the wait bound, the batch
/// size bound, and exact accounting (every byte reserved comes back once).
/// </summary>
[Trait("Layer", "Fast")]
public sealed class ByteBudgetRuleTests
{
    private static readonly TimeSpan MemoryWait = TimeSpan.FromSeconds(30);

    [Fact]
    public void The_fair_share_is_the_capacity_split_over_the_running_streams()
    {
        var budget = new ByteBudget(1200);
        Assert.Equal(1200, budget.FairShare);
        using var a = budget.OpenStream(MemoryWait);
        using var b = budget.OpenStream(MemoryWait);
        var c = budget.OpenStream(MemoryWait);
        Assert.Equal(3, budget.Streams);
        Assert.Equal(400, budget.FairShare);
        c.Dispose();
        c.Dispose(); // idempotent
        Assert.Equal(2, budget.Streams);
        Assert.Equal(600, budget.FairShare);
    }

    [Fact]
    public async Task A_stream_always_gets_its_first_batch_even_above_its_fair_share()
    {
        var budget = new ByteBudget(1000);
        using var other = budget.OpenStream(MemoryWait);
        using var stream = budget.OpenStream(MemoryWait);
        var first = stream.ReserveBatchAsync(800, CancellationToken.None);
        Assert.True(first.IsCompletedSuccessfully); // 800 > fair share 500, but a stream holding nothing may go ahead
        using var batch = await first;
        Assert.Equal(200, budget.Available);
        Assert.Equal(800, stream.Held);
    }

    [Fact]
    public async Task A_second_batch_waits_while_it_would_take_the_stream_past_its_fair_share()
    {
        var budget = new ByteBudget(1000);
        using var other = budget.OpenStream(MemoryWait);
        using var stream = budget.OpenStream(MemoryWait);
        var first = await stream.ReserveBatchAsync(300, CancellationToken.None);

        // 300 + 300 > 500: the budget has the bytes, but the stream is over its share; it waits for its own first batch.
        var second = stream.ReserveBatchAsync(300, CancellationToken.None).AsTask();
        Assert.False(second.IsCompleted);
        Assert.Equal(700, budget.Available);

        first.Dispose();
        using var got = await second.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(700, budget.Available);
        Assert.Equal(1, stream.Batches);

        // Within the share, a second batch goes at once.
        using var small = await stream.ReserveBatchAsync(200, CancellationToken.None);
        Assert.Equal(2, stream.Batches);
    }

    [Fact]
    public async Task A_stream_holds_at_most_two_batches_even_within_its_share()
    {
        var budget = new ByteBudget(1000);
        using var stream = budget.OpenStream(MemoryWait);
        using var one = await stream.ReserveBatchAsync(10, CancellationToken.None);
        var two = await stream.ReserveBatchAsync(10, CancellationToken.None);
        var three = stream.ReserveBatchAsync(10, CancellationToken.None).AsTask();
        Assert.False(three.IsCompleted);
        Assert.Equal(ByteBudget.BatchesPerStream, stream.Batches);

        two.Dispose();
        using var got = await three.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(980, budget.Available);
    }

    [Fact]
    public async Task Bytes_not_free_within_the_wait_bound_end_in_resource_exhausted_and_give_everything_back()
    {
        var time = new FakeTimeProvider();
        var budget = new ByteBudget(100, null, time);
        using var hog = budget.OpenStream(MemoryWait);
        using var held = await hog.ReserveBatchAsync(100, CancellationToken.None);
        using var stream = budget.OpenStream(MemoryWait);

        var waiting = stream.ReserveBatchAsync(40, CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        time.Advance(MemoryWait - TimeSpan.FromMilliseconds(1));
        Assert.False(waiting.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));

        var error = await Assert.ThrowsAsync<MailGrpcException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(ErrorReasons.MemoryBudgetExhausted, error.Reason);
        Assert.Equal(ErrorKind.ResourceExhausted, error.Kind);
        Assert.Contains("30 s", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, stream.Batches); // the slot went back too
        Assert.Equal(0, budget.Available);

        held.Dispose();
        Assert.Equal(100, budget.Available);
        using var after = await stream.ReserveBatchAsync(40, CancellationToken.None);
        Assert.Equal(60, budget.Available);
    }

    [Fact]
    public async Task A_cancelled_batch_takes_nothing()
    {
        var budget = new ByteBudget(100);
        using var hog = budget.OpenStream(MemoryWait);
        using var held = await hog.ReserveBatchAsync(100, CancellationToken.None);
        using var stream = budget.OpenStream(MemoryWait);
        using var cts = new CancellationTokenSource();
        var waiting = stream.ReserveBatchAsync(40, cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(0, stream.Batches);
        held.Dispose();
        Assert.Equal(100, budget.Available);
    }

    [Theory]
    [InlineData(64L * 1024 * 1024, 256 * 1024, 256 * 1024)] // PipelineBytes is the bound
    [InlineData(4L * 1024 * 1024, 16 * 1024 * 1024, 1024 * 1024)] // an eighth of the budget, at least 1 MiB
    [InlineData(1024L * 1024 * 1024, 64 * 1024 * 1024, 16 * 1024 * 1024)] // at most 16 MiB
    [InlineData(256L * 1024 * 1024, 64 * 1024 * 1024, 16 * 1024 * 1024)] // 32 MiB eighth, capped at 16 MiB
    public void A_batch_spans_at_most_pipeline_bytes_and_an_eighth_of_the_budget_within_1_to_16_MiB(long capacity, long pipelineBytes, long expected) =>
        Assert.Equal(expected, new ByteBudget(capacity).MaxBatchBytes(pipelineBytes));

    [Fact]
    public void A_batch_reserves_its_listed_sizes_or_a_header_allowance_per_message()
    {
        Assert.Equal(3_000 + 40_000, ByteBudget.BatchReservation([3_000, 40_000], headersOnly: false));
        Assert.Equal(2 * 64 * 1024, ByteBudget.BatchReservation([3_000, 40_000_000], headersOnly: true));
    }

    [Fact]
    public async Task A_split_share_moves_bytes_without_giving_them_back_and_every_byte_returns_once()
    {
        var budget = new ByteBudget(1000);
        using var stream = budget.OpenStream(MemoryWait);
        var batch = await stream.ReserveBatchAsync(600, CancellationToken.None);
        var kept = batch.Split(250)!;
        Assert.Equal(250, kept.Remaining);
        Assert.Equal(350, batch.Remaining);
        Assert.Equal(400, budget.Available);

        batch.Release(100);
        Assert.Equal(500, budget.Available);
        batch.Dispose();
        batch.Dispose();
        Assert.Equal(750, budget.Available); // the kept share is still held
        Assert.Equal(0, stream.Batches);
        kept.Dispose();
        kept.Dispose();
        Assert.Equal(1000, budget.Available);
    }
}
