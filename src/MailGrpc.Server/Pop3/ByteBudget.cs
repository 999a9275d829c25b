using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Pop3;

/// <summary>
/// The process-wide budget of message bytes held in memory (MailKit buffers whole messages), and every rule of how a
/// stream may use it — kept in this one file so they change together (pinned by <c>ByteBudgetRuleTests</c>):
/// <list type="number">
/// <item>A fetch reserves the bytes it will hold (the LIST sizes; <see cref="HeaderAllowance"/> per message for a
/// header-only fetch) before it asks the POP3 server, and gives them back as its messages are written — so a slow reader
/// holds its reservation. Waiters are served in arrival order, so a large message is not starved by small ones.</item>
/// <item>A batch spans at most <see cref="MaxBatchBytes"/>: <c>PipelineBytes</c>, and at most an eighth of the capacity
/// (clamped to 1–16 MiB), but always at least one message.</item>
/// <item>Fairness: a stream (<see cref="OpenStream"/>) holds at most <see cref="BatchesPerStream"/> batches, and beyond
/// its first only while what it holds stays within its <see cref="FairShare"/> (the capacity split over the running
/// streams) — so a slow reader holds about one message, not a share of everyone's memory, and slows only itself.</item>
/// <item>A reservation that cannot be had within the stream's wait bound (<c>MemoryWait</c>) fails with
/// RESOURCE_EXHAUSTED <c>MEMORY_BUDGET_EXHAUSTED</c> instead of leaving the caller without a frame.</item>
/// </list>
/// </summary>
internal sealed class ByteBudget
{
    /// <summary>What a header block (TOP n 0) is reserved as: header sizes are not listed, and they are small.</summary>
    public const long HeaderAllowance = 64 * 1024;

    /// <summary>Batches one stream may hold: the one being written and the next one, fetched meanwhile.</summary>
    public const int BatchesPerStream = 2;

    private readonly Lock _gate = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly MailGrpcMetrics? _metrics;
    private readonly TimeProvider _time;
    private long _available;
    private int _streams;

    public ByteBudget(IOptions<Pop3Options> options, MailGrpcMetrics metrics, TimeProvider time)
        : this(options.Value.MemoryBudgetBytes, metrics, time)
    {
    }

    public ByteBudget(long capacity, MailGrpcMetrics? metrics = null, TimeProvider? time = null)
    {
        _metrics = metrics;
        _time = time ?? TimeProvider.System;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
        _available = capacity;
    }

    public long Capacity { get; }

    /// <summary>Streams running now.</summary>
    public int Streams => Volatile.Read(ref _streams);

    /// <summary>What one stream may hold while it already holds something: the capacity split over the running streams.</summary>
    public long FairShare => Capacity / Math.Max(1, Streams);

    /// <summary>Bytes one batch may span: small enough that many streams share the budget, never less than one message.</summary>
    public long MaxBatchBytes(long pipelineBytes) => Math.Min(pipelineBytes, Math.Clamp(Capacity / 8, 1024 * 1024, 16L * 1024 * 1024));

    /// <summary>The bytes a batch of <paramref name="sizes"/> reserves: their sizes, or a header allowance each.</summary>
    public static long BatchReservation(IEnumerable<long> sizes, bool headersOnly) =>
        headersOnly ? sizes.Count() * HeaderAllowance : sizes.Sum();

    /// <summary>Counts a running stream until disposed; its batches wait at most <paramref name="memoryWait"/> for bytes.</summary>
    public StreamBudget OpenStream(TimeSpan memoryWait)
    {
        Interlocked.Increment(ref _streams);
        return new StreamBudget(this, memoryWait);
    }

    internal void LeaveStream() => Interlocked.Decrement(ref _streams);

    /// <summary>
    /// <see cref="ReserveAsync"/> bounded by <paramref name="wait"/>: RESOURCE_EXHAUSTED (MEMORY_BUDGET_EXHAUSTED) when
    /// the bytes do not become free in time.
    /// </summary>
    public async ValueTask<Reservation> ReserveWithinAsync(long bytes, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var timer = new CancellationTokenSource(wait, _time);
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            return await ReserveAsync(bytes, bounded.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Failures.MemoryBudgetExhausted(wait);
        }
    }

    /// <summary>Bytes not reserved right now.</summary>
    public long Available
    {
        get
        {
            lock (_gate)
            {
                return _available;
            }
        }
    }

    /// <summary>Reserves <paramref name="bytes"/> (clamped to the capacity), waiting for earlier reservations to be released.</summary>
    public async ValueTask<Reservation> ReserveAsync(long bytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        bytes = Math.Min(bytes, Capacity);
        Waiter waiter;
        lock (_gate)
        {
            if (_waiters.Count == 0 && _available >= bytes)
            {
                _available -= bytes;
                _metrics?.ByteBudgetReserved(bytes);
                return new Reservation(this, bytes);
            }

            waiter = new Waiter(bytes);
            waiter.Node = _waiters.AddLast(waiter);
        }

        await using var registration = cancellationToken.Register(() => Cancel(waiter, cancellationToken));
        await waiter.Completion.Task.ConfigureAwait(false);
        _metrics?.ByteBudgetReserved(bytes);
        return new Reservation(this, bytes);
    }

    private void Cancel(Waiter waiter, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (waiter.Node?.List is null)
            {
                return; // already granted
            }

            _waiters.Remove(waiter.Node);
            waiter.Node = null;
            // The head may have been blocking smaller waiters behind it.
            GrantLocked();
        }

        waiter.Completion.TrySetCanceled(cancellationToken);
    }

    private void Release(long bytes)
    {
        if (bytes == 0)
        {
            return;
        }

        _metrics?.ByteBudgetReleased(bytes);
        lock (_gate)
        {
            _available += bytes;
            GrantLocked();
        }
    }

    private void GrantLocked()
    {
        while (_waiters.First is { } first && first.Value.Bytes <= _available)
        {
            _available -= first.Value.Bytes;
            _waiters.RemoveFirst();
            first.Value.Node = null;
            first.Value.Completion.TrySetResult();
        }
    }

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;

        public LinkedListNode<Waiter>? Node { get; set; }

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Bytes held until released, in parts or all at once; idempotent.</summary>
    internal sealed class Reservation(ByteBudget budget, long bytes) : IDisposable
    {
        private long _remaining = bytes;

        public long Remaining => Interlocked.Read(ref _remaining);

        /// <summary>
        /// Moves up to <paramref name="bytes"/> of this reservation into a new one the caller now owns (nothing is given
        /// back to the budget): how a message that outlives its batch keeps its bytes counted.
        /// </summary>
        public Reservation Split(long bytes)
        {
            while (true)
            {
                var current = Interlocked.Read(ref _remaining);
                var take = Math.Clamp(bytes, 0, current);
                if (Interlocked.CompareExchange(ref _remaining, current - take, current) == current)
                {
                    return new Reservation(budget, take);
                }
            }
        }

        /// <summary>Gives back up to <paramref name="bytes"/> of this reservation.</summary>
        public void Release(long bytes)
        {
            while (true)
            {
                var current = Interlocked.Read(ref _remaining);
                var give = Math.Min(current, bytes);
                if (give <= 0)
                {
                    return;
                }

                if (Interlocked.CompareExchange(ref _remaining, current - give, current) == current)
                {
                    budget.Release(give);
                    return;
                }
            }
        }

        public void Dispose() => Release(long.MaxValue);
    }
}
