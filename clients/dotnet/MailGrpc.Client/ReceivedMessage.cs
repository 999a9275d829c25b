using MailGrpc.V1;
using MimeKit;

namespace MailGrpc.Client;

/// <summary>
/// One whole message from a message stream, its bytes already checked against the server's SHA-256. Or, when
/// <see cref="IsSkipped"/>, a message the server did not send (too large, or gone).
/// </summary>
/// <remarks>
/// To keep memory at one message however many are streamed, a stream reuses one buffer: the content of a message
/// yielded by <see cref="MessageStreamReader.ReadMessagesAsync"/> is valid until the enumeration moves to the next
/// message. Store it (or copy it with <see cref="ToArray"/>) before then; reading it later throws
/// <see cref="InvalidOperationException"/>.
/// </remarks>
public sealed class ReceivedMessage
{
    private readonly ContentLease? _lease;
    private readonly int _generation;
    private readonly ReadOnlyMemory<byte> _content;

    internal ReceivedMessage(MessageSummary summary, ReadOnlyMemory<byte> content, string sha256, ContentLease? lease)
    {
        Summary = summary;
        _content = content;
        Sha256 = sha256;
        _lease = lease;
        _generation = lease?.Generation ?? 0;
    }

    internal ReceivedMessage(MessageSummary summary, string skipReason)
    {
        Summary = summary;
        SkipReason = skipReason;
        Sha256 = string.Empty;
    }

    /// <summary>The POP3 UIDL, stable across sessions.</summary>
    public string Uid => Summary.Uid;

    /// <summary>The summary frame: size as the server reports it and the parsed envelope.</summary>
    public MessageSummary Summary { get; }

    /// <summary>True when the server sent no content for this message; <see cref="SkipReason"/> says why.</summary>
    public bool IsSkipped => SkipReason is not null;

    /// <summary>Why the message was skipped (<c>MESSAGE_TOO_LARGE</c>, <c>MESSAGE_NOT_FOUND</c>); null when it was sent.</summary>
    public string? SkipReason { get; }

    /// <summary>The lower-case hex SHA-256 of the content, as sent by the server and verified here; empty when skipped.</summary>
    public string Sha256 { get; }

    /// <summary>The number of content bytes received (0 when skipped or in the headers-only view).</summary>
    public long Length => _content.Length;

    /// <summary>The raw MIME bytes.</summary>
    /// <exception cref="InvalidOperationException">The stream has moved on to the next message and reused the buffer.</exception>
    public ReadOnlyMemory<byte> Content
    {
        get
        {
            if (_lease is not null && _lease.Generation != _generation)
            {
                throw new InvalidOperationException($"The content of message '{Uid}' was released when the stream moved to the next message; copy it with ToArray() or store it before reading on.");
            }

            return _content;
        }
    }

    /// <summary>A read-only stream over the raw MIME bytes, without copying them.</summary>
    /// <returns>A new stream positioned at the start.</returns>
    /// <exception cref="InvalidOperationException">The content was released (see <see cref="Content"/>).</exception>
    public Stream OpenRead()
    {
        var content = Content;
        if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray(content, out var segment) && segment.Array is not null)
        {
            return new MemoryStream(segment.Array, segment.Offset, segment.Count, writable: false);
        }

        return new MemoryStream(content.ToArray(), writable: false);
    }

    /// <summary>Copies the raw MIME bytes into a new array that stays valid after the stream moves on.</summary>
    /// <returns>The bytes.</returns>
    /// <exception cref="InvalidOperationException">The content was released (see <see cref="Content"/>).</exception>
    public byte[] ToArray() => Content.ToArray();

    /// <summary>Parses the content with MimeKit.</summary>
    /// <param name="cancellationToken">Cancels parsing.</param>
    /// <returns>
    /// The parsed message. It holds its own copy of the parts (about one more message of memory while it is alive,
    /// and MimeKit may keep pooled buffers), so for very large messages prefer <see cref="OpenRead"/>.
    /// </returns>
    /// <exception cref="InvalidOperationException">The message was skipped, or its content was released.</exception>
    /// <exception cref="FormatException">The content is not a MIME message.</exception>
    public async Task<MimeMessage> ParseMimeAsync(CancellationToken cancellationToken = default)
    {
        if (IsSkipped)
        {
            throw new InvalidOperationException($"Message '{Uid}' was skipped ({SkipReason}); it has no content.");
        }

        using var stream = OpenRead();
        return await MimeMessage.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Tells a yielded message whether the shared buffer it points into still holds its bytes.</summary>
internal sealed class ContentLease
{
    public int Generation { get; private set; }

    public void Release() => Generation++;
}
