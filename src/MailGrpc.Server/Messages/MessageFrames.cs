namespace MailGrpc.Server.Messages;

/// <summary>A mailbox address as a header names it.</summary>
internal sealed record MailAddress(string Name, string Address);

/// <summary>One attachment of a message: file name, MIME type and encoded size (0 when unknown).</summary>
internal sealed record AttachmentInfo(string FileName, string ContentType, long Size);

/// <summary>What a message's headers (and, in the full view, its parts) say about it.</summary>
internal sealed record MessageEnvelope(
    string Subject,
    IReadOnlyList<MailAddress> From,
    IReadOnlyList<MailAddress> To,
    IReadOnlyList<MailAddress> Cc,
    IReadOnlyList<MailAddress> ReplyTo,
    DateTimeOffset? Date,
    string MessageId,
    string InReplyTo,
    IReadOnlyList<AttachmentInfo> Attachments)
{
    /// <summary>Nothing known (headers that could not be parsed, a message only reported by uid).</summary>
    public static MessageEnvelope Empty { get; } = new(string.Empty, [], [], [], [], null, string.Empty, string.Empty, []);
}

/// <summary>
/// One frame of a message on the wire, in the core's words: a message is <c>summary, chunk*, end</c> (sent) or
/// <c>summary, skipped</c> (not sent). The edge converts each to its proto frame.
/// </summary>
internal abstract record MessageFrame(string Uid);

internal sealed record MessageSummaryFrame(string Uid, long Size, MessageEnvelope Envelope) : MessageFrame(Uid);

/// <summary>
/// A chunk of the raw message. <see cref="Data"/> is lent: it is a pooled buffer of the frame writer, valid only until
/// the sink's <see cref="IMessageFrameSink.WriteAsync"/> returns (the writer reuses and returns it; a sink never keeps it).
/// </summary>
internal sealed record MessageChunkFrame(string Uid, ReadOnlyMemory<byte> Data, long Offset) : MessageFrame(Uid);

internal sealed record MessageEndFrame(string Uid, long Size, string Sha256) : MessageFrame(Uid);

/// <summary>A message that is not sent, with the reason (<c>MESSAGE_TOO_LARGE</c>, <c>MESSAGE_NOT_FOUND</c>).</summary>
internal sealed record MessageSkippedFrame(string Uid, string Reason) : MessageFrame(Uid);

/// <summary>Where frames go: the gRPC edge writes each to its response stream.</summary>
internal interface IMessageFrameSink
{
    /// <summary>
    /// Writes one frame. A <see cref="MessageChunkFrame"/>'s data is lent for this call only: the frame must be fully
    /// written (serialized) when the returned task completes.
    /// </summary>
    Task WriteAsync(MessageFrame frame, CancellationToken cancellationToken);
}
