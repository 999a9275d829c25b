using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Grpc.Core;
using MailGrpc.Server.Errors;

namespace MailGrpc.Server.GrpcApi.Framing;

/// <summary>
/// The request body of a unary or server-streaming call (exactly one length-prefixed message), as grpc-dotnet reads it,
/// with the framing checked: a prefix over the receive limit, a body that ends short of the length its prefix declares,
/// an empty body, bytes after the message, a compressed flag other than 0/1. grpc-dotnet answers those with INTERNAL
/// or RESOURCE_EXHAUSTED without a reason (or UNKNOWN), before any marshaller or interceptor runs; it sends the status
/// and trailers of an <see cref="RpcException"/> thrown by this read unchanged, so the caller gets the one error format.
/// Relies on grpc-dotnet consuming only whole messages: every buffer it is handed starts at a message prefix.
/// Nothing is allocated per read; nothing of the body is echoed.
/// </summary>
internal sealed class SingleMessageBodyReader(PipeReader inner, long? maxMessageBytes) : PipeReader
{
    private const int PrefixSize = 5;

    private SequencePosition _lastStart;
    private bool _messageConsumed;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var read = inner.ReadAsync(cancellationToken);
        return read.IsCompletedSuccessfully ? new ValueTask<ReadResult>(Check(read.Result)) : AwaitAndCheckAsync(read);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!inner.TryRead(out result))
        {
            return false;
        }

        result = Check(result);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        // grpc-dotnet advances past the message once it has deserialized it; until then it consumes nothing.
        if (!consumed.Equals(_lastStart))
        {
            _messageConsumed = true;
        }

        inner.AdvanceTo(consumed, examined);
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitAndCheckAsync(ValueTask<ReadResult> read) => Check(await read.ConfigureAwait(false));

    private ReadResult Check(ReadResult result)
    {
        var buffer = result.Buffer;
        _lastStart = buffer.Start;
        if (result.IsCanceled)
        {
            return result;
        }

        var failure = FramingFailure(buffer, result.IsCompleted);
        if (failure is not null)
        {
            // The read is released before the call fails (nobody reads again; the body is not echoed).
            inner.AdvanceTo(buffer.Start, buffer.End);
            throw ExceptionMapper.ToRpcException(failure);
        }

        return result;
    }

    private MailGrpcException? FramingFailure(in ReadOnlySequence<byte> buffer, bool bodyComplete)
    {
        if (_messageConsumed)
        {
            // The one message has been read: whatever else the body holds is too much.
            return buffer.IsEmpty ? null : Failures.MalformedFrame("trailing_data");
        }

        if (buffer.Length >= PrefixSize)
        {
            Span<byte> prefix = stackalloc byte[PrefixSize];
            buffer.Slice(0, PrefixSize).CopyTo(prefix);
            if (prefix[0] > 1)
            {
                return Failures.MalformedFrame("invalid_frame");
            }

            long declared = BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]);
            if (declared > (maxMessageBytes ?? int.MaxValue))
            {
                return Failures.RequestTooLarge(maxMessageBytes ?? int.MaxValue);
            }

            if (bodyComplete && buffer.Length != PrefixSize + declared)
            {
                return Failures.MalformedFrame(buffer.Length < PrefixSize + declared ? "incomplete_message" : "trailing_data");
            }

            return null;
        }

        if (!bodyComplete)
        {
            return null;
        }

        return Failures.MalformedFrame(buffer.IsEmpty ? "missing_message" : "incomplete_message");
    }
}
