using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Google.Protobuf;
using MailGrpc.V1;
using Xunit.Abstractions;

namespace MailGrpc.Client.Tests;

/// <summary>Runs alone: the allocation counter is process-wide.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurementGroup
{
    public const string Name = "memory measurement";
}

/// <summary>Streaming several 30 MB messages must cost about one message of memory, not one per message.</summary>
[Collection(MemoryMeasurementGroup.Name)]
public sealed class StreamingMemoryTests(ITestOutputHelper output)
{
    private const int MessageSize = 30 * 1024 * 1024;
    private const int MessageCount = 4;

    [Fact]
    public async Task Streaming_several_30_MB_messages_holds_about_one_message()
    {
        // Warm up the code paths so JIT and first-use allocations do not count.
        await Consume(Generate(1, 1024 * 1024), _ => { });

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        long peakLive = 0;

        var count = await Consume(Generate(MessageCount, MessageSize), message =>
        {
            Assert.Equal(MessageSize, message.Length);
            // What is still reachable while a message is being handed out: its own buffer, nothing of the others.
            peakLive = Math.Max(peakLive, GC.GetTotalMemory(forceFullCollection: true) - baseline);
        });

        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        output.WriteLine($"{MessageCount} x {MessageSize / 1048576} MB streamed: peak live {peakLive / 1048576.0:F1} MB, allocated {allocated / 1048576.0:F1} MB");

        Assert.Equal(MessageCount, count);
        Assert.True(peakLive < 1.25 * MessageSize, $"peak live {peakLive} bytes for a {MessageSize}-byte message");
        Assert.True(allocated < 1.25 * MessageSize, $"allocated {allocated} bytes for {MessageCount} messages of {MessageSize}");
    }

    private static async Task<int> Consume(IAsyncEnumerable<MessageFrame> frames, Action<ReceivedMessage> onMessage)
    {
        var count = 0;
        await foreach (var message in MessageStreamReader.ReadMessagesAsync(frames))
        {
            onMessage(message);
            count++;
        }

        return count;
    }

    /// <summary>Frames for large messages made on the fly over one reused chunk array, so the source itself holds nothing.</summary>
    private static async IAsyncEnumerable<MessageFrame> Generate(int count, int size, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var chunk = new byte[Frames.ChunkSize];
        for (var i = 0; i < count; i++)
        {
            var uid = $"big-{i}";
            yield return new MessageFrame { Summary = new MessageSummary { Uid = uid, Size = size } };
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (var offset = 0; offset < size; offset += chunk.Length)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var length = Math.Min(chunk.Length, size - offset);
                chunk.AsSpan(0, length).Fill((byte)('a' + ((i + (offset / chunk.Length)) % 26)));
                hash.AppendData(chunk, 0, length);
                // UnsafeWrap shares the array: the reader copies the bytes out before the next frame is made.
                yield return new MessageFrame { Chunk = new MessageChunk { Offset = offset, Data = UnsafeByteOperations.UnsafeWrap(chunk.AsMemory(0, length)) } };
            }

            yield return new MessageFrame { End = new MessageEnd { Uid = uid, Size = size, Sha256 = Convert.ToHexStringLower(hash.GetHashAndReset()) } };
            await Task.Yield();
        }
    }
}
