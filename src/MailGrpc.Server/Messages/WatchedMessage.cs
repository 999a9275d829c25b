using System.Threading.Channels;
using MailGrpc.Server.Pop3;

namespace MailGrpc.Server.Messages;

/// <summary>One WatchMessages call: what it wants and the queue its mailbox's poller fills.</summary>
internal sealed class Watcher(string? consumer, bool headersOnly, bool includeExisting)
{
    /// <summary>Messages a watcher's queue holds before the poller waits for it.</summary>
    public const int QueueLength = 16;

    public string? Consumer { get; } = consumer;

    public bool HeadersOnly { get; } = headersOnly;

    public bool IncludeExisting { get; } = includeExisting;

    /// <summary>Set by the poller only (its loop is the one thread touching it).</summary>
    public bool Initialized { get; set; }

    /// <summary>Uids pushed to (or acknowledged by) this watch; touched by the poller's loop only.</summary>
    public HashSet<string> Delivered { get; } = new(StringComparer.Ordinal);

    public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Channel<WatchedMessage.Lease> Queue { get; } = Channel.CreateBounded<WatchedMessage.Lease>(new BoundedChannelOptions(QueueLength) { SingleReader = true, SingleWriter = true });

    public void Fail(Exception error)
    {
        Ready.TrySetException(error);
        Queue.Writer.TryComplete(error);
    }
}

/// <summary>
/// A message the poller fetched once for all its watchers: the plan item, its envelope, and (when a watcher wants the full
/// view) the raw bytes, read-only. It keeps its share of the byte budget until the last <see cref="Lease"/> is disposed;
/// each watcher writes it with the same <see cref="MessageFrameWriter"/> as StreamMessages.
/// </summary>
internal sealed class WatchedMessage : IDisposable
{
    private readonly byte[]? _content;
    private readonly ByteBudget.Reservation? _reservation;
    private int _references = 1;

    private WatchedMessage(PlanItem item, MessageEnvelope? envelope, byte[]? content, ByteBudget.Reservation? reservation)
    {
        Item = item;
        Envelope = envelope;
        _content = content;
        _reservation = reservation;
    }

    public PlanItem Item { get; }

    public string Uid => Item.Entry.Uid;

    public MessageEnvelope? Envelope { get; }

    /// <summary>Takes over a fetched message: its envelope, its bytes (full view) and their budget share.</summary>
    public static async Task<WatchedMessage> FromAsync(FetchedMessage fetched, bool full, CancellationToken cancellationToken)
    {
        if (fetched.Item.Kind != PlanKind.Fetch || fetched.Content is not { } content)
        {
            return new WatchedMessage(fetched.Item, fetched.Envelope, null, null);
        }

        if (!full)
        {
            return new WatchedMessage(fetched.Item, await EnvelopeReader.FromHeaderStreamAsync(content, cancellationToken), null, null);
        }

        var envelope = await EnvelopeReader.FromMessageAsync(content, cancellationToken);
        var bytes = GC.AllocateUninitializedArray<byte>(checked((int)(content.Length - content.Position)));
        await content.ReadExactlyAsync(bytes, cancellationToken);
        return new WatchedMessage(fetched.Item, envelope, bytes, fetched.TakeBudgetShare());
    }

    /// <summary>A reference for one watcher; the message's bytes go back to the budget when the last one is disposed.</summary>
    public Lease Lend()
    {
        Interlocked.Increment(ref _references);
        return new Lease(this);
    }

    /// <summary>Writes the message to one watcher: a full message, its headers, or skipped (too large for the full view).</summary>
    public Task WriteAsync(MessageFrameWriter frames, bool headersOnly, IMessageFrameSink sink, CancellationToken cancellationToken)
    {
        if (headersOnly && Item.Kind == PlanKind.TooLarge)
        {
            // The headers view never downloads, so a message too large to download is still pushed (as its headers).
            return frames.WriteAsync("WatchMessages", Item with { Kind = PlanKind.Fetch }, Envelope ?? MessageEnvelope.Empty, null, headersOnly, sink, cancellationToken);
        }

        if (Item.Kind != PlanKind.Fetch || headersOnly)
        {
            return frames.WriteAsync("WatchMessages", Item, Envelope, null, headersOnly, sink, cancellationToken);
        }

        return WriteContentAsync(frames, sink, cancellationToken);
    }

    private async Task WriteContentAsync(MessageFrameWriter frames, IMessageFrameSink sink, CancellationToken cancellationToken)
    {
        using var content = new MemoryStream(_content ?? [], writable: false);
        await frames.WriteAsync("WatchMessages", Item, Envelope, content, headersOnly: false, sink, cancellationToken);
    }

    /// <summary>Drops the poller's own reference.</summary>
    public void Dispose() => Release();

    private void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            _reservation?.Dispose();
        }
    }

    /// <summary>One watcher's loan of a <see cref="WatchedMessage"/>; disposing it gives the reference back (once).</summary>
    internal sealed class Lease : IDisposable
    {
        private WatchedMessage? _message;

        internal Lease(WatchedMessage message) => _message = message;

        public WatchedMessage Message => _message ?? throw new ObjectDisposedException(nameof(Lease));

        public void Dispose() => Interlocked.Exchange(ref _message, null)?.Release();
    }
}
