using System.Buffers;
using System.Security.Cryptography;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Messages;

/// <summary>
/// Writes one message as frames — summary, chunks of at most <see cref="Pop3Options.ChunkSize"/>, end with SHA-256; or
/// summary, skipped — for all three message RPCs. Chunks lend a pooled buffer (<see cref="ChunkBuffer"/>) that this
/// writer rents and returns itself: no copy per chunk, and no caller ever has to give a buffer back.
/// </summary>
internal sealed class MessageFrameWriter(IOptions<Pop3Options> options, MailGrpcMetrics metrics)
{
    private int ChunkSize => options.Value.ChunkSize;

    /// <summary>Writes a message the fetcher lent.</summary>
    public Task WriteAsync(string rpc, FetchedMessage message, bool headersOnly, IMessageFrameSink sink, CancellationToken cancellationToken) =>
        WriteAsync(rpc, message.Item, message.Envelope, message.Content, headersOnly, sink, cancellationToken);

    /// <summary>
    /// Writes one message. <paramref name="envelope"/> is parsed from <paramref name="content"/> when not given;
    /// <paramref name="content"/> is the whole message (or, with <paramref name="headersOnly"/>, at least its headers).
    /// </summary>
    public async Task WriteAsync(string rpc, PlanItem item, MessageEnvelope? envelope, Stream? content, bool headersOnly, IMessageFrameSink sink, CancellationToken cancellationToken)
    {
        var entry = item.Entry;
        if (item.Kind != PlanKind.Fetch)
        {
            var reason = item.Kind == PlanKind.TooLarge ? ErrorReasons.MessageTooLarge : ErrorReasons.MessageNotFound;
            await sink.WriteAsync(new MessageSummaryFrame(entry.Uid, entry.Size, envelope ?? MessageEnvelope.Empty), cancellationToken);
            await sink.WriteAsync(new MessageSkippedFrame(entry.Uid, reason), cancellationToken);
            return;
        }

        if (envelope is null)
        {
            ArgumentNullException.ThrowIfNull(content);
            envelope = headersOnly
                ? await EnvelopeReader.FromHeaderStreamAsync(content, cancellationToken)
                : await EnvelopeReader.FromMessageAsync(content, cancellationToken);
        }

        await sink.WriteAsync(new MessageSummaryFrame(entry.Uid, entry.Size, envelope), cancellationToken);
        if (headersOnly)
        {
            await sink.WriteAsync(new MessageEndFrame(entry.Uid, 0, string.Empty), cancellationToken);
            metrics.MessageStreamed(rpc, 0);
            return;
        }

        ArgumentNullException.ThrowIfNull(content);
        var (sent, sha256) = await WriteChunksAsync(entry.Uid, content, sink, ChunkSize, cancellationToken);
        await sink.WriteAsync(new MessageEndFrame(entry.Uid, sent, sha256), cancellationToken);
        metrics.MessageStreamed(rpc, sent);
    }

    /// <summary>Writes a stream as chunk frames and returns the bytes sent and their lower-case hex SHA-256.</summary>
    internal static async Task<(long Sent, string Sha256)> WriteChunksAsync(string uid, Stream stream, IMessageFrameSink sink, int chunkSize, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var buffer = new ChunkBuffer(chunkSize);
        long offset = 0;
        while (true)
        {
            var data = await buffer.FillAsync(stream, cancellationToken);
            if (data.IsEmpty)
            {
                break;
            }

            hash.AppendData(data.Span);
            // No copy per chunk: the sink serializes the frame before its write completes, so the buffer is free to reuse
            // afterwards (a copy would put every streamed byte through gen0 once more).
            await sink.WriteAsync(new MessageChunkFrame(uid, data, offset), cancellationToken);
            offset += data.Length;
        }

        return (offset, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}

/// <summary>
/// A pooled chunk buffer, rented on creation and returned on dispose (a <c>using</c>; CA2000 is an error in this folder,
/// so a buffer that is never returned does not build). What <see cref="FillAsync"/> returns is valid until the next fill.
/// </summary>
internal sealed class ChunkBuffer : IDisposable
{
    private readonly int _size;
    private byte[]? _array;

    public ChunkBuffer(int size)
    {
        _size = size;
        _array = ArrayPool<byte>.Shared.Rent(size);
    }

    /// <summary>Reads until the buffer is full or the stream ends; empty at the end.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> FillAsync(Stream stream, CancellationToken cancellationToken)
    {
        var memory = (_array ?? throw new ObjectDisposedException(nameof(ChunkBuffer))).AsMemory(0, _size);
        var total = 0;
        while (total < memory.Length)
        {
            var read = await stream.ReadAsync(memory[total..], cancellationToken);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return memory[..total];
    }

    public void Dispose()
    {
        if (_array is { } array)
        {
            _array = null;
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
