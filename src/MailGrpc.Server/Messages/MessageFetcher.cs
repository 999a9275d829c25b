using System.Threading.Channels;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Pop3;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Messages;

/// <summary>What to do with one message of a plan.</summary>
internal enum PlanKind
{
    Fetch = 1,
    TooLarge,
    NotFound,
}

/// <summary>One step of a plan: a message to fetch, or one to report as skipped.</summary>
internal readonly record struct PlanItem(PlanKind Kind, Pop3Entry Entry);

/// <summary>
/// Fetches the messages of a plan from one POP3 session — the one message fetch of StreamMessages, GetMessage,
/// ListMessages (headers) and the watch poller. A producer fetches pipelined batches (the only code touching the session)
/// while the caller handles the previous batch; every batch first takes its share of the <see cref="ByteBudget"/>
/// under the stream's rules (<see cref="StreamBudget"/>), and a message too large to download is read with TOP only, so its
/// summary still says what it is.
/// <para>
/// A batch spans at most <see cref="ByteBudget.MaxBatchBytes"/> and <see cref="Pop3Options.BatchSize"/> messages (one
/// larger message is a batch of its own), and its messages are handed out as soon as the batch is complete, so a
/// connection that drops loses the delivery of at most the batch in flight.
/// </para>
/// <para>
/// Each message is lent to the handler as a <see cref="FetchedMessage"/> and released by the fetcher when the handler
/// returns (its stream and its budget share) — releasing is never the handler's job. A handler that keeps a message
/// longer takes its bytes with <see cref="FetchedMessage.TakeBudgetShare"/>, a reservation it then owns.
/// </para>
/// </summary>
internal sealed class MessageFetcher(ByteBudget budget, IOptions<Pop3Options> options)
{
    private Pop3Options Pop3 => options.Value;

    /// <summary>Whether a listed message is fetched or only reported as too large.</summary>
    public PlanItem Classify(Pop3Entry entry) => new(entry.Size > Pop3.MaxMessageSize ? PlanKind.TooLarge : PlanKind.Fetch, entry);

    /// <summary>Fetches every message of <paramref name="plan"/> in order and hands each to <paramref name="handle"/>.</summary>
    public async Task FetchAsync(IPop3MessageSource session, IReadOnlyList<PlanItem> plan, bool headersOnly, Func<FetchedMessage, CancellationToken, Task> handle, CancellationToken cancellationToken)
    {
        if (plan.Count == 0)
        {
            return;
        }

        var channel = Channel.CreateUnbounded<FetchedMessage>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stream = budget.OpenStream(Pop3.MemoryWait);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = ProduceAsync(session, plan, headersOnly, channel.Writer, stream, stop.Token);
        try
        {
            await foreach (var fetched in channel.Reader.ReadAllAsync(cancellationToken))
            {
                using (fetched)
                {
                    await handle(fetched, cancellationToken);
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
                left.Dispose();
            }

            throw;
        }
    }

    private async Task ProduceAsync(IPop3MessageSource session, IReadOnlyList<PlanItem> plan, bool headersOnly, ChannelWriter<FetchedMessage> writer, StreamBudget stream, CancellationToken cancellationToken)
    {
        // Yield so the consumer starts reading while the first batch is fetched.
        await Task.Yield();
        try
        {
            foreach (var batch in Batches(plan, headersOnly))
            {
                var first = batch[0];
                var bytes = first.Kind != PlanKind.Fetch ? 0 : ByteBudget.BatchReservation(batch.Select(i => i.Entry.Size), headersOnly);
                var reservation = await stream.ReserveBatchAsync(bytes, cancellationToken);
                var shared = new FetchedBatch(reservation, batch.Count);
                try
                {
                    if (first.Kind != PlanKind.Fetch)
                    {
                        writer.TryWrite(new FetchedMessage(first, null, await TooLargeEnvelopeAsync(session, first, cancellationToken), shared, 0));
                        continue;
                    }

                    var streams = await session.FetchAsync(batch.Select(i => i.Entry.Index).ToArray(), headersOnly, cancellationToken);
                    for (var i = 0; i < batch.Count; i++)
                    {
                        writer.TryWrite(new FetchedMessage(batch[i], streams[i], null, shared, headersOnly ? ByteBudget.HeaderAllowance : batch[i].Entry.Size));
                    }
                }
                catch
                {
                    reservation.Dispose();
                    throw;
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

    /// <summary>Only the headers (TOP n 0) of a message too large to download; nothing for a message that is not there.</summary>
    private static async Task<MessageEnvelope?> TooLargeEnvelopeAsync(IPop3MessageSource session, PlanItem item, CancellationToken cancellationToken)
    {
        if (item.Kind != PlanKind.TooLarge || !session.SupportsTop)
        {
            return null;
        }

        var headers = await session.FetchAsync([item.Entry.Index], headersOnly: true, cancellationToken);
        await using (headers[0])
        {
            return await EnvelopeReader.FromHeaderStreamAsync(headers[0], cancellationToken);
        }
    }

    private IEnumerable<List<PlanItem>> Batches(IReadOnlyList<PlanItem> plan, bool headersOnly)
    {
        var maxBytes = budget.MaxBatchBytes(Pop3.PipelineBytes);
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
            if (batch.Count > 0 && (batch.Count >= Pop3.BatchSize || bytes + size > maxBytes))
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
}

/// <summary>
/// One fetched message lent to a handler: the plan item, the message (or header block) in memory, the envelope read with
/// TOP for a message too large to download, and its share of its batch's budget. The fetcher disposes it.
/// </summary>
internal sealed class FetchedMessage : IDisposable
{
    private readonly FetchedBatch _batch;
    private long _share;
    private int _disposed;

    internal FetchedMessage(PlanItem item, Stream? content, MessageEnvelope? envelope, FetchedBatch batch, long share)
    {
        Item = item;
        Content = content;
        Envelope = envelope;
        _batch = batch;
        _share = share;
    }

    public PlanItem Item { get; }

    /// <summary>The message or header block as the server sent it (seekable); null for a skipped message.</summary>
    public Stream? Content { get; }

    /// <summary>For a message too large to download: its envelope from TOP, when the server offers TOP.</summary>
    public MessageEnvelope? Envelope { get; }

    /// <summary>Moves this message's bytes out of its batch into a reservation the caller owns (for a message kept longer).</summary>
    public ByteBudget.Reservation? TakeBudgetShare() => _batch.Reservation.Split(Interlocked.Exchange(ref _share, 0));

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Content?.Dispose();
            _batch.Return(Interlocked.Exchange(ref _share, 0));
        }
    }
}

/// <summary>A batch's reservation, shared by its messages: each gives back its share, the last one the rest and the slot.</summary>
internal sealed class FetchedBatch(BatchReservation reservation, int messages)
{
    private int _left = messages;

    public BatchReservation Reservation { get; } = reservation;

    public void Return(long bytes)
    {
        Reservation.Release(bytes);
        if (Interlocked.Decrement(ref _left) == 0)
        {
            Reservation.Dispose();
        }
    }
}
