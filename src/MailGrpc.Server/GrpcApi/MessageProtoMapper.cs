using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using MailGrpc.Server.Messages;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>MessageService's proto ⇄ domain conversions: requests in, results and frames out.</summary>
internal static class MessageProtoMapper
{
    public static ListMessagesQuery ToQuery(this V1.ListMessagesRequest request) =>
        new(request.MailboxId, request.PageSize, request.PageToken, request.IncludeHeaders, request.Consumer);

    public static StreamMessagesQuery ToQuery(this V1.StreamMessagesRequest request) =>
        new(request.MailboxId, request.Consumer, request.OnlyUnacknowledged, ToView(request.View), request.MaxMessages, request.MaxBytes, request.Uids);

    public static GetMessageQuery ToQuery(this V1.GetMessageRequest request) => new(request.MailboxId, request.Uid, ToView(request.View));

    public static WatchMessagesQuery ToQuery(this V1.WatchMessagesRequest request) =>
        new(request.MailboxId, request.Consumer, ToView(request.View), request.IncludeExisting);

    public static DeleteConsumerCommand ToCommand(this V1.DeleteConsumerRequest request) => new(request.MailboxId, request.Consumer);

    public static AcknowledgeMessagesCommand ToCommand(this V1.AcknowledgeMessagesRequest request) =>
        new(request.MailboxId, request.Consumer, request.Uids, request.Delete);

    public static DeleteMessagesCommand ToCommand(this V1.DeleteMessagesRequest request) => new(request.MailboxId, request.Uids);

    public static V1.ListMessagesResponse ToProto(this MessageListing listing)
    {
        var response = new V1.ListMessagesResponse { TotalCount = listing.TotalCount, TotalSize = listing.TotalSize, NextPageToken = listing.NextPageToken };
        foreach (var item in listing.Messages)
        {
            var info = new V1.MessageInfo { Uid = item.Uid, Size = item.Size, Acknowledged = item.Acknowledged };
            if (item.Envelope is { } envelope)
            {
                info.Envelope = envelope.ToProto();
            }

            response.Messages.Add(info);
        }

        return response;
    }

    public static V1.AcknowledgeMessagesResponse ToProto(this AcknowledgeMessagesResult result) =>
        new() { AcknowledgedUids = { result.Acknowledged }, DeletedUids = { result.Deleted }, MissingUids = { result.Missing } };

    public static V1.DeleteMessagesResponse ToProto(this DeleteMessagesResult result) =>
        new() { DeletedUids = { result.Deleted }, MissingUids = { result.Missing } };

    /// <summary>
    /// The proto frame. A chunk's data is wrapped, not copied: it is the frame writer's pooled buffer, lent until the
    /// response write that serializes this frame completes (see <see cref="MessageChunkFrame"/>).
    /// </summary>
    public static V1.MessageFrame ToProto(this MessageFrame frame) => frame switch
    {
        MessageChunkFrame chunk => new V1.MessageFrame { Chunk = new V1.MessageChunk { Data = UnsafeByteOperations.UnsafeWrap(chunk.Data), Offset = chunk.Offset } },
        MessageSummaryFrame summary => new V1.MessageFrame { Summary = new V1.MessageSummary { Uid = summary.Uid, Size = summary.Size, Envelope = summary.Envelope.ToProto() } },
        MessageEndFrame end => new V1.MessageFrame { End = new V1.MessageEnd { Uid = end.Uid, Size = end.Size, Sha256 = end.Sha256 } },
        MessageSkippedFrame skipped => new V1.MessageFrame { Skipped = new V1.MessageSkipped { Uid = skipped.Uid, Reason = skipped.Reason } },
        _ => throw new ArgumentOutOfRangeException(nameof(frame), frame.GetType().Name, "Unknown message frame."),
    };

    public static V1.Envelope ToProto(this MessageEnvelope envelope)
    {
        var proto = new V1.Envelope { Subject = envelope.Subject, MessageId = envelope.MessageId, InReplyTo = envelope.InReplyTo };
        Add(proto.From, envelope.From);
        Add(proto.To, envelope.To);
        Add(proto.Cc, envelope.Cc);
        Add(proto.ReplyTo, envelope.ReplyTo);
        if (envelope.Date is { } date)
        {
            proto.Date = Timestamp.FromDateTimeOffset(date);
        }

        foreach (var attachment in envelope.Attachments)
        {
            proto.Attachments.Add(new V1.Attachment { FileName = attachment.FileName, ContentType = attachment.ContentType, Size = attachment.Size });
        }

        return proto;
    }

    /// <summary>By number: an unknown view stays unknown, and the validator answers it with INVALID_VIEW.</summary>
    private static MessageView ToView(V1.MessageView view) => (MessageView)(int)view;

    private static void Add(Google.Protobuf.Collections.RepeatedField<V1.Address> target, IReadOnlyList<MailAddress> addresses)
    {
        foreach (var address in addresses)
        {
            target.Add(new V1.Address { Name = address.Name, Address_ = address.Address });
        }
    }
}
