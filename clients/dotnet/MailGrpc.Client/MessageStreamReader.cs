using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Grpc.Core;
using MailGrpc.V1;

namespace MailGrpc.Client;

/// <summary>
/// Turns the frames of <c>StreamMessages</c>, <c>GetMessage</c> and <c>WatchMessages</c> (summary → chunks → end, or
/// summary → skipped) into whole messages, checking offsets, sizes and the SHA-256 of each.
/// </summary>
public static class MessageStreamReader
{
    /// <summary>
    /// Reads whole messages from a sequence of frames. One buffer is reused for every message, so memory stays at
    /// about the largest message; a yielded message's content is valid until the next one is requested.
    /// </summary>
    /// <param name="frames">The frames, in the order the server sent them.</param>
    /// <param name="cancellationToken">Stops reading.</param>
    /// <returns>The messages, verified, in order.</returns>
    /// <exception cref="MessageIntegrityException">
    /// A frame is out of order, an offset or size does not add up, the SHA-256 does not match, or the frames end in
    /// the middle of a message. Thrown before the affected message is yielded.
    /// </exception>
    public static async IAsyncEnumerable<ReceivedMessage> ReadMessagesAsync(
        IAsyncEnumerable<MessageFrame> frames, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frames);
        using var assembler = new MessageAssembler(reuseBuffer: true);
        await foreach (var frame in frames.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (assembler.Accept(frame) is { } message)
            {
                yield return message;
            }
        }

        assembler.Complete();
    }

    /// <summary>Adapts a gRPC response stream to the frames inside its responses.</summary>
    internal static async IAsyncEnumerable<MessageFrame> Frames<TResponse>(
        IAsyncStreamReader<TResponse> reader, Func<TResponse, MessageFrame?> frameOf, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (await reader.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            yield return frameOf(reader.Current) ?? throw new MessageIntegrityException("The server sent a response without a frame.");
        }
    }
}

/// <summary>The state machine behind <see cref="MessageStreamReader"/>; one message at a time.</summary>
internal sealed class MessageAssembler(bool reuseBuffer) : IDisposable
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly ContentLease? _lease = reuseBuffer ? new ContentLease() : null;
    private byte[] _buffer = [];
    private MessageSummary? _current;
    private long _length;

    /// <summary>Takes the next frame; returns a message when the frame completed one.</summary>
    public ReceivedMessage? Accept(MessageFrame frame)
    {
        switch (frame.FrameCase)
        {
            case MessageFrame.FrameOneofCase.Summary:
                if (_current is not null)
                {
                    throw new MessageIntegrityException(_current.Uid, $"Message '{_current.Uid}' ended without an end frame before '{frame.Summary.Uid}' started.");
                }

                Start(frame.Summary);
                return null;

            case MessageFrame.FrameOneofCase.Chunk:
                Append(Current("chunk"), frame.Chunk);
                return null;

            case MessageFrame.FrameOneofCase.End:
                return Finish(Current("end"), frame.End);

            case MessageFrame.FrameOneofCase.Skipped:
                var skipped = Current("skipped");
                if (_length != 0)
                {
                    throw new MessageIntegrityException(skipped.Uid, $"Message '{skipped.Uid}' was skipped after {_length} bytes were sent.");
                }

                _current = null;
                return new ReceivedMessage(skipped, string.IsNullOrEmpty(frame.Skipped.Reason) ? "UNSPECIFIED" : frame.Skipped.Reason);

            default:
                throw new MessageIntegrityException(_current?.Uid, $"Unknown frame kind '{frame.FrameCase}'.");
        }
    }

    /// <summary>Checks that the frames did not stop in the middle of a message.</summary>
    public void Complete()
    {
        if (_current is not null)
        {
            throw new MessageIntegrityException(_current.Uid, $"The stream ended in the middle of message '{_current.Uid}'.");
        }
    }

    public void Dispose()
    {
        _hash.Dispose();
        _lease?.Release();
        _buffer = [];
    }

    private MessageSummary Current(string frameKind) =>
        _current ?? throw new MessageIntegrityException(null, $"A {frameKind} frame arrived before any summary frame.");

    private void Start(MessageSummary summary)
    {
        // The previous message's content is about to be overwritten.
        _lease?.Release();
        _current = summary;
        _length = 0;
        if (!reuseBuffer)
        {
            _buffer = [];
        }

        // Size the buffer once from the announced size (POP3 sizes are exact for the bytes sent).
        if (summary.Size > _buffer.Length && summary.Size <= Array.MaxLength)
        {
            _buffer = new byte[summary.Size];
        }

        // Drop any half-fed hash state.
        _hash.GetHashAndReset();
    }

    private void Append(MessageSummary current, MessageChunk chunk)
    {
        if (chunk.Offset != _length)
        {
            throw new MessageIntegrityException(current.Uid, $"Chunk of message '{current.Uid}' starts at offset {chunk.Offset}, expected {_length}.");
        }

        var data = chunk.Data.Span;
        var needed = _length + data.Length;
        if (needed > Array.MaxLength)
        {
            throw new MessageIntegrityException(current.Uid, $"Message '{current.Uid}' is larger than an array can hold.");
        }

        if (needed > _buffer.Length)
        {
            // The server sent more than announced: grow geometrically so a wrong size does not cost quadratic copying.
            var grown = new byte[Math.Min(Array.MaxLength, Math.Max(needed, (long)_buffer.Length * 2))];
            _buffer.AsSpan(0, (int)_length).CopyTo(grown);
            _buffer = grown;
        }

        data.CopyTo(_buffer.AsSpan((int)_length));
        _hash.AppendData(data);
        _length = needed;
    }

    private ReceivedMessage Finish(MessageSummary current, MessageEnd end)
    {
        _current = null;
        if (!string.IsNullOrEmpty(end.Uid) && end.Uid != current.Uid)
        {
            throw new MessageIntegrityException(current.Uid, $"End frame for '{end.Uid}' closes message '{current.Uid}'.");
        }

        if (end.Size != _length)
        {
            throw new MessageIntegrityException(current.Uid, $"Message '{current.Uid}': the end frame says {end.Size} bytes, {_length} arrived.");
        }

        Span<byte> digest = stackalloc byte[32];
        _hash.GetHashAndReset(digest);
        var actual = Convert.ToHexStringLower(digest);
        // The headers-only view sends no chunks and may hash nothing; anything with bytes must carry a hash.
        if (!(_length == 0 && string.IsNullOrEmpty(end.Sha256)) && !string.Equals(actual, end.Sha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new MessageIntegrityException(current.Uid, $"Message '{current.Uid}': SHA-256 mismatch (server {end.Sha256}, received {actual}).");
        }

        return new ReceivedMessage(current, _buffer.AsMemory(0, (int)_length), actual, _lease);
    }
}
