namespace MailGrpc.Server.Pop3;

/// <summary>
/// One stream's use of the <see cref="ByteBudget"/> (a StreamMessages/GetMessage/ListMessages call, or a watch poller):
/// it counts as a running stream until disposed, and hands out its batches under the budget's rules — at most
/// <see cref="ByteBudget.BatchesPerStream"/> at once, beyond the first only within the fair share, and the bytes within
/// the wait bound or RESOURCE_EXHAUSTED.
/// </summary>
internal sealed class StreamBudget : IDisposable
{
    private readonly ByteBudget _budget;
    private readonly TimeSpan _memoryWait;
    private readonly Lock _gate = new();
    private int _batches;
    private long _bytes;
    private int _disposed;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal StreamBudget(ByteBudget budget, TimeSpan memoryWait)
    {
        _budget = budget;
        _memoryWait = memoryWait;
    }

    /// <summary>Batches this stream holds now.</summary>
    public int Batches
    {
        get
        {
            lock (_gate)
            {
                return _batches;
            }
        }
    }

    /// <summary>Bytes this stream's batches reserved and still hold (given back as messages are written).</summary>
    public long Held
    {
        get
        {
            lock (_gate)
            {
                return _bytes;
            }
        }
    }

    /// <summary>
    /// Waits until this stream may hold another batch of <paramref name="bytes"/>, then reserves them in the budget
    /// (within the wait bound). A batch of 0 bytes (messages only reported as skipped) takes a batch slot and no bytes.
    /// </summary>
    public async ValueTask<BatchReservation> ReserveBatchAsync(long bytes, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        await TakeSlotAsync(bytes, cancellationToken);
        if (bytes == 0)
        {
            return new BatchReservation(this, 0, null);
        }

        try
        {
            return new BatchReservation(this, bytes, await _budget.ReserveWithinAsync(bytes, _memoryWait, cancellationToken));
        }
        catch
        {
            ReturnSlot(bytes);
            throw;
        }
    }

    private async Task TakeSlotAsync(long bytes, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_batches == 0 || (_batches < ByteBudget.BatchesPerStream && _bytes + bytes <= _budget.FairShare))
                {
                    _batches++;
                    _bytes += bytes;
                    return;
                }

                changed = _changed.Task;
            }

            await changed.WaitAsync(cancellationToken);
        }
    }

    internal void ReturnSlot(long bytes)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            _batches--;
            _bytes -= bytes;
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _budget.LeaveStream();
        }
    }
}

/// <summary>
/// One batch's hold on the budget: its bytes (given back in parts as messages are written, or moved to a message that
/// outlives the batch with <see cref="Split"/>) and its slot in the stream. Disposing gives back the rest and the slot;
/// idempotent.
/// </summary>
internal sealed class BatchReservation : IDisposable
{
    private readonly StreamBudget _stream;
    private readonly long _bytes;
    private readonly ByteBudget.Reservation? _reservation;
    private int _disposed;

    internal BatchReservation(StreamBudget stream, long bytes, ByteBudget.Reservation? reservation)
    {
        _stream = stream;
        _bytes = bytes;
        _reservation = reservation;
    }

    /// <summary>Bytes of this batch still reserved.</summary>
    public long Remaining => _reservation?.Remaining ?? 0;

    /// <summary>Gives back up to <paramref name="bytes"/> (a written message's share).</summary>
    public void Release(long bytes) => _reservation?.Release(bytes);

    /// <summary>Moves up to <paramref name="bytes"/> into a reservation the caller owns and must dispose.</summary>
    public ByteBudget.Reservation? Split(long bytes) => _reservation?.Split(bytes);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _reservation?.Dispose();
            _stream.ReturnSlot(_bytes);
        }
    }
}
