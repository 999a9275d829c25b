using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using MailGrpc.V1;

namespace MailGrpc.Client.Tests;

/// <summary>Builds frame sequences the way the server frames a message.</summary>
internal static class Frames
{
    public const int ChunkSize = 64 * 1024;

    public static IEnumerable<MessageFrame> Message(string uid, byte[] content, string? sha256 = null, long? endSize = null)
    {
        yield return new MessageFrame { Summary = new MessageSummary { Uid = uid, Size = content.Length } };
        for (var offset = 0; offset < content.Length; offset += ChunkSize)
        {
            var length = Math.Min(ChunkSize, content.Length - offset);
            yield return new MessageFrame { Chunk = new MessageChunk { Offset = offset, Data = ByteString.CopyFrom(content, offset, length) } };
        }

        yield return new MessageFrame { End = new MessageEnd { Uid = uid, Size = endSize ?? content.Length, Sha256 = sha256 ?? Sha(content) } };
    }

    public static IEnumerable<MessageFrame> Skipped(string uid, long size, string reason)
    {
        yield return new MessageFrame { Summary = new MessageSummary { Uid = uid, Size = size } };
        yield return new MessageFrame { Skipped = new MessageSkipped { Uid = uid, Reason = reason } };
    }

    public static string Sha(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    public static byte[] Mime(string subject, int bodyLines) =>
        Encoding.ASCII.GetBytes(
            $"From: a@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n\r\n"
            + string.Concat(Enumerable.Range(0, bodyLines).Select(i => $"line {i} of {subject}\r\n")));

    public static async IAsyncEnumerable<MessageFrame> Async(IEnumerable<MessageFrame> frames)
    {
        foreach (var frame in frames)
        {
            await Task.Yield();
            yield return frame;
        }
    }
}
