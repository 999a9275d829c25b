using System.Security.Cryptography;
using Grpc.Core;
using MailGrpc.V1;

namespace MailGrpc.Tests.Messages;

/// <summary>One message as a client reassembles it from frames.</summary>
public sealed class StreamedMessage
{
    public required MessageSummary Summary { get; init; }

    public MemoryStream Data { get; } = new();

    public MessageEnd? End { get; set; }

    public MessageSkipped? Skipped { get; set; }

    public string Uid => Summary.Uid;

    public string ActualSha256 => Convert.ToHexStringLower(SHA256.HashData(Data.ToArray()));

    /// <summary>Reads frames until the stream ends (or <paramref name="stopAfter"/> complete messages), checking the framing.</summary>
    public static async Task<List<StreamedMessage>> ReadAsync<T>(IAsyncStreamReader<T> stream, Func<T, MessageFrame> frame, int stopAfter = int.MaxValue, CancellationToken cancellationToken = default)
    {
        var messages = new List<StreamedMessage>();
        StreamedMessage? current = null;
        while (messages.Count(m => m.End is not null || m.Skipped is not null) < stopAfter && await stream.MoveNext(cancellationToken))
        {
            var f = frame(stream.Current);
            switch (f.FrameCase)
            {
                case MessageFrame.FrameOneofCase.Summary:
                    Assert.Null(current);
                    current = new StreamedMessage { Summary = f.Summary };
                    messages.Add(current);
                    break;
                case MessageFrame.FrameOneofCase.Chunk:
                    Assert.NotNull(current);
                    Assert.InRange(f.Chunk.Data.Length, 1, 64 * 1024);
                    Assert.Equal(current.Data.Length, f.Chunk.Offset);
                    f.Chunk.Data.WriteTo(current.Data);
                    break;
                case MessageFrame.FrameOneofCase.End:
                    Assert.NotNull(current);
                    Assert.Equal(current.Uid, f.End.Uid);
                    current.End = f.End;
                    current = null;
                    break;
                case MessageFrame.FrameOneofCase.Skipped:
                    Assert.NotNull(current);
                    Assert.Equal(current.Uid, f.Skipped.Uid);
                    current.Skipped = f.Skipped;
                    current = null;
                    break;
                default:
                    Assert.Fail("empty frame");
                    break;
            }
        }

        return messages;
    }
}
