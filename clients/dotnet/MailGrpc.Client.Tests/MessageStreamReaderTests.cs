using Google.Protobuf;
using MailGrpc.V1;

namespace MailGrpc.Client.Tests;

public sealed class MessageStreamReaderTests
{
    private static async Task<List<(string Uid, byte[]? Content, string? Skip, string Sha)>> ReadAll(IEnumerable<MessageFrame> frames)
    {
        var result = new List<(string, byte[]?, string?, string)>();
        await foreach (var message in MessageStreamReader.ReadMessagesAsync(Frames.Async(frames)))
        {
            result.Add((message.Uid, message.IsSkipped ? null : message.ToArray(), message.SkipReason, message.Sha256));
        }

        return result;
    }

    [Fact]
    public async Task Reassembles_messages_across_chunks_and_verifies_their_sha256()
    {
        var first = Frames.Mime("first", 10_000);   // several 64 KiB chunks
        var second = Frames.Mime("second", 3);      // one chunk
        var messages = await ReadAll(Frames.Message("u1", first).Concat(Frames.Message("u2", second)));

        Assert.Equal(2, messages.Count);
        Assert.True(first.Length > 2 * Frames.ChunkSize);
        Assert.Equal(("u1", Frames.Sha(first)), (messages[0].Uid, messages[0].Sha));
        Assert.Equal(first, messages[0].Content);
        Assert.Equal(("u2", Frames.Sha(second)), (messages[1].Uid, messages[1].Sha));
        Assert.Equal(second, messages[1].Content);
    }

    [Fact]
    public async Task A_sha256_mismatch_throws_before_the_message_is_yielded()
    {
        var good = Frames.Mime("good", 5);
        var bad = Frames.Mime("bad", 5);
        var yielded = new List<string>();

        var error = await Assert.ThrowsAsync<MessageIntegrityException>(async () =>
        {
            await foreach (var m in MessageStreamReader.ReadMessagesAsync(Frames.Async(Frames.Message("u1", good).Concat(Frames.Message("u2", bad, sha256: Frames.Sha(good))))))
            {
                yielded.Add(m.Uid);
            }
        });

        Assert.Equal(["u1"], yielded);
        Assert.Equal("u2", error.Uid);
        Assert.Contains("SHA-256 mismatch", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_skipped_message_is_yielded_with_its_reason_and_no_content()
    {
        var after = Frames.Mime("after", 2);
        var messages = await ReadAll(Frames.Skipped("big", 99_000_000, "MESSAGE_TOO_LARGE").Concat(Frames.Message("u2", after)));

        Assert.Equal(2, messages.Count);
        Assert.Equal(("big", (byte[]?)null, "MESSAGE_TOO_LARGE"), (messages[0].Uid, messages[0].Content, messages[0].Skip));
        Assert.Equal(after, messages[1].Content);
    }

    [Fact]
    public async Task A_skipped_message_has_no_mime_to_parse()
    {
        await foreach (var m in MessageStreamReader.ReadMessagesAsync(Frames.Async(Frames.Skipped("gone", 10, "MESSAGE_NOT_FOUND"))))
        {
            Assert.True(m.IsSkipped);
            await Assert.ThrowsAsync<InvalidOperationException>(() => m.ParseMimeAsync());
        }
    }

    [Fact]
    public async Task An_offset_gap_is_refused()
    {
        var content = Frames.Mime("gap", 10_000);
        var frames = Frames.Message("u1", content).Where(f => !(f.FrameCase == MessageFrame.FrameOneofCase.Chunk && f.Chunk.Offset == Frames.ChunkSize));
        var error = await Assert.ThrowsAsync<MessageIntegrityException>(() => ReadAll(frames));
        Assert.Contains($"expected {Frames.ChunkSize}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_end_size_that_differs_from_the_bytes_received_is_refused()
    {
        var content = Frames.Mime("size", 4);
        var error = await Assert.ThrowsAsync<MessageIntegrityException>(() => ReadAll(Frames.Message("u1", content, endSize: content.Length + 1)));
        Assert.Contains("end frame says", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_that_stops_mid_message_is_refused()
    {
        var content = Frames.Mime("cut", 10_000);
        var frames = Frames.Message("u1", content).SkipLast(1);
        var error = await Assert.ThrowsAsync<MessageIntegrityException>(() => ReadAll(frames));
        Assert.Contains("ended in the middle", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_chunk_before_any_summary_is_refused()
    {
        var frames = new[] { new MessageFrame { Chunk = new MessageChunk { Offset = 0, Data = ByteString.CopyFromUtf8("x") } } };
        await Assert.ThrowsAsync<MessageIntegrityException>(() => ReadAll(frames));
    }

    [Fact]
    public async Task A_summary_before_the_previous_end_is_refused()
    {
        var content = Frames.Mime("open", 2);
        var frames = Frames.Message("u1", content).SkipLast(1).Concat(Frames.Message("u2", content));
        var error = await Assert.ThrowsAsync<MessageIntegrityException>(() => ReadAll(frames));
        Assert.Equal("u1", error.Uid);
    }

    [Fact]
    public async Task A_headers_only_message_without_bytes_or_hash_is_accepted()
    {
        var frames = new[]
        {
            new MessageFrame { Summary = new MessageSummary { Uid = "h1", Size = 1234, Envelope = new Envelope { Subject = "hi" } } },
            new MessageFrame { End = new MessageEnd { Uid = "h1", Size = 0, Sha256 = string.Empty } },
        };
        var messages = await ReadAll(frames);
        Assert.Equal(("h1", 0), (messages[0].Uid, messages[0].Content!.Length));
    }

    [Fact]
    public async Task A_yielded_message_content_is_released_when_the_stream_moves_on()
    {
        var first = Frames.Mime("first", 3);
        ReceivedMessage? kept = null;
        byte[]? copy = null;
        await foreach (var m in MessageStreamReader.ReadMessagesAsync(Frames.Async(Frames.Message("u1", first).Concat(Frames.Message("u2", Frames.Mime("second", 3))))))
        {
            if (kept is null)
            {
                kept = m;
                copy = m.ToArray();
            }
        }

        Assert.Equal(first, copy);
        Assert.Throws<InvalidOperationException>(() => kept!.Content);
    }

    [Fact]
    public async Task Parses_the_content_with_MimeKit_on_demand()
    {
        var content = Frames.Mime("parsed", 3);
        await foreach (var m in MessageStreamReader.ReadMessagesAsync(Frames.Async(Frames.Message("u1", content))))
        {
            var mime = await m.ParseMimeAsync();
            Assert.Equal("parsed", mime.Subject);
            Assert.Equal("parsed@example.org", mime.MessageId);
            using var stream = m.OpenRead();
            Assert.Equal(content.Length, stream.Length);
            Assert.False(stream.CanWrite);
        }
    }
}
