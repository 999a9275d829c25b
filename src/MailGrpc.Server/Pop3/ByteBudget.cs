using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Pop3;

/// <summary>
/// The process-wide budget of message bytes held in memory (MailKit buffers whole messages). A fetch reserves the bytes
/// it will hold before it asks the POP3 server, and gives them back as frames are written to the gRPC client — so a slow
/// reader holds its reservation. Waiters are served in arrival order, so a large message is not starved by small ones.
/// <para>
/// Fairness: streams register while they run (<see cref="EnterStream"/>), and a stream that already holds bytes may take
/// more only within its <see cref="FairShare"/> — so a slow reader holds about one message, not a share of everyone's
/// memory, and slows only itself. A reservation that cannot be had within the wait bound fails with RESOURCE_EXHAUSTED
/// (<see cref="ReserveWithinAsync"/>) instead of leaving the caller without a frame.
/// </para>
/// </summary>
internal sealed class ByteBudget
{
    private readonly Lock _gate = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly MailGrpcMetrics? _metrics;
    private long _available;

    public ByteBudget(IOptions<Pop3Options> options, MailGrpcMetrics metrics)
        : this(options.Value.MemoryBudgetBytes, metrics)
    {
    }

    public ByteBudget(long capacity, MailGrpcMetrics? metrics = null)
    {
        _metrics = metrics;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
        _available = capacity;
    }

    public long Capacity { get; }

    private int _streams;

    /// <summary>Streams running now.</summary>
    public int Streams => Volatile.Read(ref _streams);

    /// <summary>What one stream may hold while it already holds something: the capacity split over the running streams.</summary>
    public long FairShare => Capacity / Math.Max(1, Streams);

    /// <summary>Counts a running stream until disposed.</summary>
    public IDisposable EnterStream()
    {
        Interlocked.Increment(ref _streams);
        return new StreamRegistration(this);
    }

    /// <summary>
    /// <see cref="ReserveAsync"/> bounded by <paramref name="wait"/>: RESOURCE_EXHAUSTED (MEMORY_BUDGET_EXHAUSTED) when
    /// the bytes do not become free in time.
    /// </summary>
    public async ValueTask<Reservation> ReserveWithinAsync(long bytes, TimeSpan wait, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(wait);
        try
        {
            return await ReserveAsync(bytes, bounded.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw MailGrpcException.ResourceExhausted(
                ErrorReasons.MemoryBudgetExhausted,
                $"The server's message memory (MailGrpc:Pop3:MemoryBudgetBytes) stayed in use by other streams for {wait.TotalSeconds:0.#} s; retry later (with only_unacknowledged to resume).");
        }
    }

    private sealed class StreamRegistration(ByteBudget budget) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref budget._streams);
            }
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
