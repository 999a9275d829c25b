using System.Buffers;
using System.Security.Cryptography;
using System.Threading.Channels;
using Google.Protobuf;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Pop3;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.Options;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.Messages;

/// <summary>What to do with one message of a stream.</summary>
internal enum PlanKind
{
    Fetch = 1,
    TooLarge,
    NotFound,
}

/// <summary>One step of a stream: a message to send, or one to report as skipped.</summary>
internal readonly record struct PlanItem(PlanKind Kind, Pop3Entry Entry);

/// <summary>
/// Sends messages as frames: summary, chunks of at most <see cref="Pop3Options.ChunkSize"/>, end with SHA-256. A producer
/// fetches pipelined batches from the one POP3 session (the only code touching it) while the consumer writes the previous
/// batch to the gRPC stream; every batch first reserves its bytes in the process-wide <see cref="ByteBudget"/> and gives
/// them back as its messages are written, so slow readers slow fetching instead of growing memory.
/// <para>
/// A batch spans at most <see cref="Pop3Options.PipelineBytes"/> (one larger message is a batch of its own) and its
/// messages are written as soon as the batch is complete, so a connection that drops loses the delivery of at most the
/// batch in flight: every earlier message reached the caller, and a retry starts after what was acknowledged. At most
/// two batches of a stream are in memory, the second only within the stream's fair share of the budget
/// (<see cref="ByteBudget.FairShare"/>): a slow reader of large messages holds one message at a time.
/// </para>
/// </summary>
internal sealed class MessageStreamer(ByteBudget budget, IOptions<Pop3Options> options, MailGrpcMetrics metrics)
{
    private const int BatchesInFlight = 2;

    private Pop3Options Pop3 => options.Value;

    /// <summary>Bytes one batch may span: small enough that many streams share the budget, never less than one message.</summary>
    private long BatchBytes => Math.Min(Pop3.PipelineBytes, Math.Clamp(budget.Capacity / 8, 1024 * 1024, 16L * 1024 * 1024));

    public async Task StreamAsync(string rpc, Pop3Session session, IReadOnlyList<PlanItem> plan, bool headersOnly, Func<V1.MessageFrame, Task> write, CancellationToken cancellationToken)
    {
        if (plan.Count == 0)
        {
            return;
        }

        var channel = Channel.CreateUnbounded<Fetched>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var registration = budget.EnterStream();
        var inFlight = new StreamHold(BatchesInFlight);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = ProduceAsync(session, plan, headersOnly, channel.Writer, inFlight, stop.Token);
        try
        {
            await foreach (var fetched in channel.Reader.ReadAllAsync(cancellationToken))
            {
                try
                {
                    await WriteMessageAsync(rpc, fetched, headersOnly, write, cancellationToken);
                }
                finally
                {
                    Finish(fetched, inFlight);
                }
            }

            await producer;
        }
        catch
        {
            await stop.CancelAsync();
            try
            {
                await producer;
            }
#pragma warning disable CA1031 // The consumer's failure is the one reported; the producer only stops.
            catch
#pragma warning restore CA1031
            {
            }

            while (channel.Reader.TryRead(out var left))
            {
                Finish(left, inFlight);
            }

            throw;
        }
    }

    private static void Finish(Fetched fetched, StreamHold inFlight)
    {
        fetched.Stream?.Dispose();
        fetched.Reservation?.Release(fetched.Item.Entry.Size);
        if (fetched.LastOfBatch)
        {
            fetched.Reservation?.Dispose();
            inFlight.Release(fetched.BatchBytes);
        }
    }

    /// <summary>The batches one stream holds: at most a fixed number, and beyond the first only within the fair share.</summary>
    private sealed class StreamHold(int batches)
    {
        private readonly Lock _gate = new();
        private int _batches;
        private long _bytes;
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Waits until this stream may hold another batch of <paramref name="bytes"/>, then counts it.</summary>
        public async Task AcquireAsync(long bytes, Func<long> fairShare, CancellationToken cancellationToken)
        {
            while (true)
            {
                Task changed;
                lock (_gate)
                {
                    if (_batches == 0 || (_batches < batches && _bytes + bytes <= fairShare()))
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

        public void Release(long bytes)
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
    }

    private async Task ProduceAsync(Pop3Session session, IReadOnlyList<PlanItem> plan, bool headersOnly, ChannelWriter<Fetched> writer, StreamHold inFlight, CancellationToken cancellationToken)
    {
        // Yield so the consumer starts reading while the first batch is fetched.
        await Task.Yield();
        try
        {
            foreach (var batch in Batches(plan, headersOnly))
            {
                var first = batch[0];
                // Header blocks are small and unknown in size: reserve a flat allowance per message.
                var bytes = first.Kind != PlanKind.Fetch ? 0 : headersOnly ? batch.Count * 64L * 1024 : batch.Sum(i => i.Entry.Size);
                await inFlight.AcquireAsync(bytes, () => budget.FairShare, cancellationToken);
                if (first.Kind != PlanKind.Fetch)
                {
                    V1.Envelope? envelope = null;
                    if (first.Kind == PlanKind.TooLarge && session.SupportsTop)
                    {
                        // Only the headers (TOP n 0) of a message too large to download, so the summary still says what it is.
                        var headers = await session.FetchAsync([first.Entry.Index], headersOnly: true, cancellationToken);
                        await using (headers[0])
                        {
                            envelope = await EnvelopeReader.FromHeaderStreamAsync(headers[0], cancellationToken);
                        }
                    }

                    writer.TryWrite(new Fetched(first, null, envelope, null, LastOfBatch: true, BatchBytes: 0));
                    continue;
                }

                ByteBudget.Reservation reservation;
                IList<Stream> streams;
                try
                {
                    reservation = await budget.ReserveWithinAsync(bytes, Pop3.MemoryWait, cancellationToken);
                }
                catch
                {
                    inFlight.Release(bytes);
                    throw;
                }

                try
                {
                    streams = await session.FetchAsync(batch.Select(i => i.Entry.Index).ToArray(), headersOnly, cancellationToken);
                }
                catch
                {
                    reservation.Dispose();
                    inFlight.Release(bytes);
                    throw;
                }

                for (var i = 0; i < batch.Count; i++)
                {
                    writer.TryWrite(new Fetched(batch[i], streams[i], null, reservation, LastOfBatch: i == batch.Count - 1, BatchBytes: bytes));
                }
            }

            writer.TryComplete();
        }
        catch (Exception ex)
        {
            writer.TryComplete(ex);
            throw;
        }
    }

    private IEnumerable<List<PlanItem>> Batches(IReadOnlyList<PlanItem> plan, bool headersOnly)
    {
        var batch = new List<PlanItem>();
        long bytes = 0;
        foreach (var item in plan)
        {
            if (item.Kind != PlanKind.Fetch)
            {
                if (batch.Count > 0)
                {
                    yield return batch;
                    batch = [];
                    bytes = 0;
                }

                yield return [item];
                continue;
            }

            var size = headersOnly ? 0 : item.Entry.Size;
            if (batch.Count > 0 && (batch.Count >= Pop3.BatchSize || bytes + size > BatchBytes))
            {
                yield return batch;
                batch = [];
                bytes = 0;
            }

            batch.Add(item);
            bytes += size;
        }

        if (batch.Count > 0)
        {
            yield return batch;
        }
    }

    private async Task WriteMessageAsync(string rpc, Fetched fetched, bool headersOnly, Func<V1.MessageFrame, Task> write, CancellationToken cancellationToken)
    {
        var entry = fetched.Item.Entry;
        if (fetched.Item.Kind != PlanKind.Fetch)
        {
            var reason = fetched.Item.Kind == PlanKind.TooLarge ? ErrorReasons.MessageTooLarge : ErrorReasons.MessageNotFound;
            await write(new V1.MessageFrame { Summary = new V1.MessageSummary { Uid = entry.Uid, Size = entry.Size, Envelope = fetched.Envelope ?? new V1.Envelope() } });
            await write(new V1.MessageFrame { Skipped = new V1.MessageSkipped { Uid = entry.Uid, Reason = reason } });
            return;
        }

        var stream = fetched.Stream!;
        var envelope = headersOnly
            ? await EnvelopeReader.FromHeaderStreamAsync(stream, cancellationToken)
            : await EnvelopeReader.FromMessageAsync(stream, cancellationToken);
        await write(new V1.MessageFrame { Summary = new V1.MessageSummary { Uid = entry.Uid, Size = entry.Size, Envelope = envelope } });
        if (headersOnly)
        {
            await write(new V1.MessageFrame { End = new V1.MessageEnd { Uid = entry.Uid, Size = 0, Sha256 = string.Empty } });
            metrics.MessageStreamed(rpc, 0);
            return;
        }

        var (sent, sha256) = await WriteChunksAsync(stream, write, Pop3.ChunkSize, cancellationToken);
        await write(new V1.MessageFrame { End = new V1.MessageEnd { Uid = entry.Uid, Size = sent, Sha256 = sha256 } });
        metrics.MessageStreamed(rpc, sent);
    }

    /// <summary>
    /// Writes a stream as chunk frames and returns the bytes sent and their lower-case hex SHA-256. A chunk's data is a
    /// pooled buffer lent for the duration of <paramref name="write"/> only: a caller that keeps a frame must copy it.
    /// </summary>
    internal static async Task<(long Sent, string Sha256)> WriteChunksAsync(Stream stream, Func<V1.MessageFrame, Task> write, int chunkSize, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
        long offset = 0;
        try
        {
            while (true)
            {
                var read = await ReadFullAsync(stream, buffer.AsMemory(0, chunkSize), cancellationToken);
                if (read == 0)
                {
                    break;
                }

                hash.AppendData(buffer, 0, read);
                // No copy per chunk: the frame is serialized into the response before write completes, so the pooled
                // buffer is free to reuse afterwards (a copy would put every streamed byte through gen0 once more).
                await write(new V1.MessageFrame { Chunk = new V1.MessageChunk { Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, read)), Offset = offset } });
                offset += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return (offset, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    private static async Task<int> ReadFullAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer[total..], cancellationToken);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total;
    }

    private sealed record Fetched(PlanItem Item, Stream? Stream, V1.Envelope? Envelope, ByteBudget.Reservation? Reservation, bool LastOfBatch, long BatchBytes);
}
