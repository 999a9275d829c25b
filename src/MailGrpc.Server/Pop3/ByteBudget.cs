using MailGrpc.Server.Configuration;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Pop3;

/// <summary>
/// The process-wide budget of message bytes held in memory (MailKit buffers whole messages). A fetch reserves the bytes
/// it will hold before it asks the POP3 server, and gives them back as frames are written to the gRPC client — so a slow
/// reader holds its reservation and, through it, slows every fetch that would exceed the budget. Waiters are served in
/// arrival order, so a large message is not starved by small ones.
/// </summary>
internal sealed class ByteBudget
{
    private readonly Lock _gate = new();
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly MailGrpcMetrics? _metrics;
    private long _available;

    public ByteBudget(IOptions<MailGrpcOptions> options, MailGrpcMetrics metrics)
        : this(options.Value.Pop3.MemoryBudgetBytes, metrics)
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
