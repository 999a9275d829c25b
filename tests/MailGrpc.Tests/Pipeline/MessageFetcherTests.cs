using MailGrpc.Server.Errors;
using MailGrpc.Server.Messages;
using MailGrpc.Server.Pop3;

namespace MailGrpc.Tests.Pipeline;

/// <summary>
/// The one message fetch and frame writer (StreamMessages, GetMessage, ListMessages' headers, the watch poller) over an
/// in-process POP3 source: frames, batches, TOP for messages too large, pipelining, and the byte budget's accounting.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class MessageFetcherTests
{
    private const int ChunkSize = 16 * 1024;

    [Fact]
    public async Task Every_message_arrives_whole_in_order_as_summary_chunks_and_end_with_its_sha256()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o => o.ChunkSize = ChunkSize);
        byte[][] messages = [PipelineParts.Message(0, 100), PipelineParts.Message(1, 70_000), PipelineParts.Message(2, ChunkSize * 2 - 200)];
        var source = new FakePop3Source(messages);
        var sink = new RecordingSink();

        await parts.StreamAsync(source, Plan(parts, source), headersOnly: false, sink);

        Assert.Equal(["uid-0", "uid-1", "uid-2"], sink.Frames.OfType<MessageSummaryFrame>().Select(s => s.Uid));
        for (var i = 0; i < messages.Length; i++)
        {
            var uid = $"uid-{i}";
            Assert.Equal(messages[i], sink.Bodies[uid]);
            var end = sink.Frames.OfType<MessageEndFrame>().Single(e => e.Uid == uid);
            Assert.Equal(messages[i].Length, end.Size);
            Assert.Equal(PipelineParts.Sha256(messages[i]), end.Sha256);
            Assert.Equal($"Message {i}", sink.Frames.OfType<MessageSummaryFrame>().Single(s => s.Uid == uid).Envelope.Subject);
        }

        Assert.All(sink.Frames.OfType<MessageChunkFrame>(), c => Assert.InRange(c.Data.Length, 1, ChunkSize));
        Assert.Equal(5, sink.Frames.OfType<MessageChunkFrame>().Count(c => c.Uid == "uid-1")); // 70,000+ bytes in 16 KiB chunks
        Assert.Equal(parts.Budget.Capacity, parts.Budget.Available);
        Assert.True(source.AllStreamsDisposed);
    }

    [Fact]
    public async Task Every_batch_reserves_its_bytes_before_it_is_fetched_and_the_budget_is_whole_again_after()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o => o.PipelineBytes = 50_000);
        var messages = Enumerable.Range(0, 12).Select(i => PipelineParts.Message(i, 9_000 + (i * 1_000))).ToArray();
        var source = new FakePop3Source(messages);
        var held = new List<long>();
        source.OnFetch = (indexes, _) =>
        {
            // What is reserved when the server is asked covers at least this batch's listed sizes.
            var reserved = parts.Budget.Capacity - parts.Budget.Available;
            Assert.True(reserved >= indexes.Sum(i => (long)messages[i].Length), $"reserved {reserved} for a batch of {indexes.Sum(i => messages[i].Length)}");
            Assert.True(reserved <= parts.Budget.Capacity);
            held.Add(reserved);
            return Task.CompletedTask;
        };

        await parts.StreamAsync(source, Plan(parts, source), headersOnly: false, new RecordingSink());

        Assert.Equal(parts.Budget.Capacity, parts.Budget.Available);
        Assert.Equal(0, parts.Budget.Streams);
        Assert.True(held.Count > 1);
    }

    [Fact]
    public async Task Batches_hold_at_most_batch_size_messages_and_pipeline_bytes_and_a_larger_message_is_fetched_alone()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o =>
        {
            o.BatchSize = 3;
            o.PipelineBytes = 30_000;
        });
        int[] sizes = [1_000, 1_000, 1_000, 1_000, 40_000, 14_000, 14_000, 14_000];
        var source = new FakePop3Source(sizes.Select((s, i) => PipelineParts.Message(i, s)).ToArray());

        await parts.StreamAsync(source, Plan(parts, source), headersOnly: false, new RecordingSink());

        Assert.Equal([[0, 1, 2], [3], [4], [5, 6], [7]], source.Fetches.Select(f => f.Indexes));
        Assert.All(source.Fetches, f => Assert.False(f.HeadersOnly));
    }

    [Fact]
    public async Task A_message_too_large_is_read_with_top_only_and_reported_as_skipped_with_its_envelope()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o => o.MaxMessageSize = 50_000);
        var source = new FakePop3Source([PipelineParts.Message(0, 1_000), PipelineParts.Message(1, 60_000, "Too big"), PipelineParts.Message(2, 1_000)]);
        var sink = new RecordingSink();

        await parts.StreamAsync(source, Plan(parts, source), headersOnly: false, sink);

        Assert.Equal(["0:RETR", "1:TOP", "2:RETR"], source.Fetches.Select(f => $"{string.Join(',', f.Indexes)}:{(f.HeadersOnly ? "TOP" : "RETR")}"));
        var summary = sink.Frames.OfType<MessageSummaryFrame>().Single(s => s.Uid == "uid-1");
        Assert.Equal("Too big", summary.Envelope.Subject);
        Assert.Equal(ErrorReasons.MessageTooLarge, sink.Frames.OfType<MessageSkippedFrame>().Single().Reason);
        Assert.DoesNotContain(sink.Frames, f => f is MessageChunkFrame c && c.Uid == "uid-1");
        Assert.Equal(parts.Budget.Capacity, parts.Budget.Available);
    }

    [Fact]
    public async Task Without_top_a_message_too_large_has_an_empty_envelope_and_a_missing_uid_is_never_fetched()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o => o.MaxMessageSize = 50_000);
        var source = new FakePop3Source([PipelineParts.Message(0, 60_000)], supportsTop: false);
        var sink = new RecordingSink();
        PlanItem[] plan = [parts.Fetcher.Classify(source.Entries[0]), new(PlanKind.NotFound, new Pop3Entry(-1, "gone", 0))];

        await parts.StreamAsync(source, plan, headersOnly: false, sink);

        Assert.Empty(source.Fetches);
        Assert.Equal(
            [typeof(MessageSummaryFrame), typeof(MessageSkippedFrame), typeof(MessageSummaryFrame), typeof(MessageSkippedFrame)],
            sink.Frames.Select(f => f.GetType()));
        Assert.Equal(string.Empty, sink.Frames.OfType<MessageSummaryFrame>().First().Envelope.Subject);
        Assert.Equal([ErrorReasons.MessageTooLarge, ErrorReasons.MessageNotFound], sink.Frames.OfType<MessageSkippedFrame>().Select(s => s.Reason));
    }

    [Fact]
    public async Task The_headers_view_fetches_with_top_and_ends_each_message_with_size_0_and_no_sha256()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024);
        var source = new FakePop3Source([PipelineParts.Message(0, 5_000), PipelineParts.Message(1, 5_000)]);
        var sink = new RecordingSink();

        await parts.StreamAsync(source, Plan(parts, source), headersOnly: true, sink);

        Assert.All(source.Fetches, f => Assert.True(f.HeadersOnly));
        Assert.DoesNotContain(sink.Frames, f => f is MessageChunkFrame);
        Assert.All(sink.Frames.OfType<MessageEndFrame>(), e => Assert.Equal((0L, string.Empty), (e.Size, e.Sha256)));
        Assert.Equal(["Message 0", "Message 1"], sink.Frames.OfType<MessageSummaryFrame>().Select(s => s.Envelope.Subject));
    }

    [Fact]
    public async Task The_next_batch_is_fetched_while_the_previous_one_is_written()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o => o.BatchSize = 1);
        var source = new FakePop3Source([PipelineParts.Message(0, 1_000), PipelineParts.Message(1, 1_000), PipelineParts.Message(2, 1_000)]);
        var secondFetched = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        source.OnFetch = (indexes, _) =>
        {
            if (indexes[0] == 1)
            {
                secondFetched.TrySetResult();
            }

            return Task.CompletedTask;
        };

        // The first message's summary is not written until the second batch has been asked for: only pipelining passes.
        var sink = new RecordingSink { OnFrame = f => f is MessageSummaryFrame { Uid: "uid-0" } ? secondFetched.Task : Task.CompletedTask };
        await parts.StreamAsync(source, Plan(parts, source), headersOnly: false, sink).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, sink.Bodies.Count);
    }

    [Fact]
    public async Task A_reader_that_fails_mid_stream_gives_back_every_byte_and_stream()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o => o.BatchSize = 2);
        var source = new FakePop3Source(Enumerable.Range(0, 7).Select(i => PipelineParts.Message(i, 3_000)).ToArray());
        var sink = new RecordingSink { OnFrame = f => f is MessageSummaryFrame { Uid: "uid-3" } ? throw new IOException("client went away") : Task.CompletedTask };

        await Assert.ThrowsAsync<IOException>(() => parts.StreamAsync(source, Plan(parts, source), headersOnly: false, sink));

        Assert.Equal(parts.Budget.Capacity, parts.Budget.Available);
        Assert.Equal(0, parts.Budget.Streams);
        Assert.True(source.AllStreamsDisposed);
    }

    [Fact]
    public async Task A_fetch_that_fails_ends_the_stream_with_its_error_after_the_earlier_batches()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o => o.BatchSize = 2);
        var source = new FakePop3Source(Enumerable.Range(0, 6).Select(i => PipelineParts.Message(i, 3_000)).ToArray());
        source.OnFetch = (indexes, _) => indexes[0] == 4 ? throw new Pop3TransportException(Pop3TransportFailure.ConnectionLost, "broke") : Task.CompletedTask;
        var sink = new RecordingSink();

        var error = await Assert.ThrowsAsync<Pop3TransportException>(() => parts.StreamAsync(source, Plan(parts, source), headersOnly: false, sink));

        Assert.Equal("broke", error.Message);
        Assert.Equal(["uid-0", "uid-1", "uid-2", "uid-3"], sink.Bodies.Keys);
        Assert.Equal(parts.Budget.Capacity, parts.Budget.Available);
        Assert.True(source.AllStreamsDisposed);
    }

    [Fact]
    public async Task A_cancelled_stream_gives_back_every_byte()
    {
        using var parts = new PipelineParts(64L * 1024 * 1024, o => o.BatchSize = 1);
        var source = new FakePop3Source(Enumerable.Range(0, 4).Select(i => PipelineParts.Message(i, 3_000)).ToArray());
        using var cts = new CancellationTokenSource();
        var sink = new RecordingSink { OnFrame = async f => { if (f is MessageEndFrame { Uid: "uid-1" }) { await cts.CancelAsync(); } } };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => parts.StreamAsync(source, Plan(parts, source), headersOnly: false, sink, cts.Token));

        Assert.Equal(parts.Budget.Capacity, parts.Budget.Available);
        Assert.True(source.AllStreamsDisposed);
    }

    [Fact]
    public async Task A_reader_of_large_messages_holds_one_message_when_another_stream_runs()
    {
        // Two streams on a 3 MB budget: fair share 1.5 MB each. Messages of 1 MB: the first batch always goes, the second
        // would take the reader to 2 MB > its share, so it is fetched only once the first message is written and released.
        using var parts = new PipelineParts(3_000_000, o => o.PipelineBytes = 1_000_000);
        using var other = parts.Budget.OpenStream(TimeSpan.FromSeconds(30));
        var messages = Enumerable.Range(0, 3).Select(i => PipelineParts.Message(i, 1_000_000)).ToArray();
        var source = new FakePop3Source(messages);
        var sink = new RecordingSink();
        var heldAtFetch = new List<long>();
        var writtenAtFetch = new List<int>();
        source.OnFetch = (indexes, _) =>
        {
            heldAtFetch.Add(parts.Budget.Capacity - parts.Budget.Available);
            writtenAtFetch.Add(sink.Bodies.Count);
            return Task.CompletedTask;
        };

        await parts.StreamAsync(source, Plan(parts, source), headersOnly: false, sink).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([0, 1, 2], writtenAtFetch); // batch n is fetched only after message n-1 was written
        Assert.All(heldAtFetch, held => Assert.Equal(messages[0].Length, held)); // never more than one message held
        Assert.Equal(3, sink.Bodies.Count);
        Assert.Equal(parts.Budget.Capacity, parts.Budget.Available);
    }

    private static PlanItem[] Plan(PipelineParts parts, FakePop3Source source) => source.Entries.Select(parts.Fetcher.Classify).ToArray();
}
