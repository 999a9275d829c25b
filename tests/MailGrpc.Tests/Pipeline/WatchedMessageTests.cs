using MailGrpc.Server.Errors;
using MailGrpc.Server.Messages;

namespace MailGrpc.Tests.Pipeline;

/// <summary>
/// The watch side of the one pipeline: a message the poller fetched once is written to every watcher by the same frame
/// writer as StreamMessages, and keeps its bytes reserved until the last watcher is done with it.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class WatchedMessageTests
{
    [Fact]
    public async Task Every_watcher_gets_the_same_whole_message_and_the_bytes_stay_reserved_until_the_last_lease_ends()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o => o.ChunkSize = 8 * 1024);
        var body = PipelineParts.Message(0, 300_000, "Fresh mail");
        var source = new FakePop3Source([body]);
        var leases = new List<WatchedMessage.Lease>();

        await parts.Fetcher.FetchAsync(source, [parts.Fetcher.Classify(source.Entries[0])], headersOnly: false, async (fetched, ct) =>
        {
            using var message = await WatchedMessage.FromAsync(fetched, full: true, ct);
            leases.Add(message.Lend());
            leases.Add(message.Lend());
        }, CancellationToken.None);

        // The fetch is over; the two watchers' leases still hold the message's bytes.
        Assert.Equal(body.Length, parts.Budget.Capacity - parts.Budget.Available);

        var full = new RecordingSink();
        var headers = new RecordingSink();
        await leases[0].Message.WriteAsync(parts.Frames, headersOnly: false, full, CancellationToken.None);
        leases[0].Dispose();
        Assert.Equal(body.Length, parts.Budget.Capacity - parts.Budget.Available);
        await leases[1].Message.WriteAsync(parts.Frames, headersOnly: true, headers, CancellationToken.None);
        leases[1].Dispose();
        leases[1].Dispose(); // once only
        Assert.Equal(parts.Budget.Capacity, parts.Budget.Available);

        Assert.Equal(body, full.Bodies["uid-0"]);
        Assert.Equal(PipelineParts.Sha256(body), full.Frames.OfType<MessageEndFrame>().Single().Sha256);
        Assert.Equal("Fresh mail", full.Frames.OfType<MessageSummaryFrame>().Single().Envelope.Subject);
        Assert.Equal("Fresh mail", headers.Frames.OfType<MessageSummaryFrame>().Single().Envelope.Subject);
        Assert.Equal((0L, string.Empty), headers.Frames.OfType<MessageEndFrame>().Select(e => (e.Size, e.Sha256)).Single());
        Assert.DoesNotContain(headers.Frames, f => f is MessageChunkFrame);
    }

    [Fact]
    public async Task A_message_too_large_is_skipped_for_the_full_view_and_pushed_as_headers_for_the_headers_view()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o => o.MaxMessageSize = 10_000);
        var source = new FakePop3Source([PipelineParts.Message(0, 20_000, "Large")]);
        var full = new RecordingSink();
        var headers = new RecordingSink();

        await parts.Fetcher.FetchAsync(source, [parts.Fetcher.Classify(source.Entries[0])], headersOnly: false, async (fetched, ct) =>
        {
            using var message = await WatchedMessage.FromAsync(fetched, full: true, ct);
            await message.WriteAsync(parts.Frames, headersOnly: false, full, ct);
            await message.WriteAsync(parts.Frames, headersOnly: true, headers, ct);
        }, CancellationToken.None);

        Assert.Equal(ErrorReasons.MessageTooLarge, full.Frames.OfType<MessageSkippedFrame>().Single().Reason);
        Assert.Equal("Large", full.Frames.OfType<MessageSummaryFrame>().Single().Envelope.Subject);
        Assert.Equal([typeof(MessageSummaryFrame), typeof(MessageEndFrame)], headers.Frames.Select(f => f.GetType()));
        Assert.Equal(parts.Budget.Capacity, parts.Budget.Available);
    }
}
