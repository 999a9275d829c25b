using System.Runtime.InteropServices;
using MailGrpc.Server.Errors;
using MailGrpc.Server.GrpcApi;
using MailGrpc.Server.Messages;
using V1 = MailGrpc.V1;

namespace MailGrpc.Tests.Pipeline;

/// <summary>The gRPC edge of the pipeline: domain frames and results become the proto messages callers see, chunks without a copy.</summary>
[Trait("Layer", "Fast")]
public sealed class MessageProtoMapperTests
{
    [Fact]
    public void A_chunk_frame_wraps_the_lent_buffer_instead_of_copying_it()
    {
        var buffer = new byte[100];
        var proto = new MessageChunkFrame("u", buffer.AsMemory(10, 50), 4096).ToProto();

        Assert.Equal(4096, proto.Chunk.Offset);
        Assert.Equal(50, proto.Chunk.Data.Length);
        Assert.True(MemoryMarshal.TryGetArray(proto.Chunk.Data.Memory, out var segment));
        Assert.Same(buffer, segment.Array);
        Assert.Equal(10, segment.Offset);
    }

    [Fact]
    public void Summary_end_and_skipped_frames_carry_every_field()
    {
        var date = new DateTimeOffset(2026, 12, 7, 1, 2, 3, TimeSpan.FromHours(1));
        var envelope = new MessageEnvelope(
            "Hello",
            [new MailAddress("Ann", "ann@example.org")],
            [new MailAddress(string.Empty, "bob@example.org")],
            [new MailAddress("Cy", "cy@example.org")],
            [new MailAddress("Di", "di@example.org")],
            date,
            "id@example.org",
            "parent@example.org",
            [new AttachmentInfo("a.pdf", "application/pdf", 1234)]);

        var summary = new MessageSummaryFrame("u1", 999, envelope).ToProto().Summary;
        Assert.Equal(("u1", 999L), (summary.Uid, summary.Size));
        Assert.Equal("Hello", summary.Envelope.Subject);
        Assert.Equal(("Ann", "ann@example.org"), (summary.Envelope.From[0].Name, summary.Envelope.From[0].Address_));
        Assert.Equal("bob@example.org", summary.Envelope.To.Single().Address_);
        Assert.Equal("cy@example.org", summary.Envelope.Cc.Single().Address_);
        Assert.Equal("di@example.org", summary.Envelope.ReplyTo.Single().Address_);
        Assert.Equal(date, summary.Envelope.Date.ToDateTimeOffset());
        Assert.Equal(("id@example.org", "parent@example.org"), (summary.Envelope.MessageId, summary.Envelope.InReplyTo));
        Assert.Equal(("a.pdf", "application/pdf", 1234L), (summary.Envelope.Attachments[0].FileName, summary.Envelope.Attachments[0].ContentType, summary.Envelope.Attachments[0].Size));
        Assert.Null(new MessageSummaryFrame("u2", 1, MessageEnvelope.Empty).ToProto().Summary.Envelope.Date);

        var end = new MessageEndFrame("u1", 999, "ab").ToProto();
        Assert.Equal(V1.MessageFrame.FrameOneofCase.End, end.FrameCase);
        Assert.Equal(("u1", 999L, "ab"), (end.End.Uid, end.End.Size, end.End.Sha256));
        var skipped = new MessageSkippedFrame("u3", ErrorReasons.MessageTooLarge).ToProto();
        Assert.Equal(("u3", "MESSAGE_TOO_LARGE"), (skipped.Skipped.Uid, skipped.Skipped.Reason));
    }

    [Fact]
    public void A_listing_keeps_envelopes_only_where_headers_were_read()
    {
        var listing = new MessageListing([new("a", 10, true, MessageEnvelope.Empty with { Subject = "S" }), new("b", 20, false, null)], "next", 2, 30);
        var proto = listing.ToProto();
        Assert.Equal((2, 30L, "next"), (proto.TotalCount, proto.TotalSize, proto.NextPageToken));
        Assert.Equal("S", proto.Messages[0].Envelope.Subject);
        Assert.True(proto.Messages[0].Acknowledged);
        Assert.Null(proto.Messages[1].Envelope);
    }

    [Fact]
    public void An_unknown_view_reaches_the_validator_and_is_refused_with_invalid_view()
    {
        var query = new V1.StreamMessagesRequest { MailboxId = "m", View = (V1.MessageView)7 }.ToQuery();
        var error = Assert.Throws<MailGrpcException>(() => MessageRequestValidator.HeadersOnly(query.View));
        Assert.Equal(ErrorReasons.InvalidView, error.Reason);
        Assert.Equal("view", error.Metadata["field"]);
        Assert.True(MessageRequestValidator.HeadersOnly(new V1.GetMessageRequest { View = V1.MessageView.Headers }.ToQuery().View));
        Assert.False(MessageRequestValidator.HeadersOnly(new V1.WatchMessagesRequest().ToQuery().View));
    }
}
