using Grpc.Core;
using MailGrpc.Server.Callers;
using MailGrpc.Server.Messages;
using MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>The gRPC face of POP3 retrieval: maps requests to <see cref="MessageManager"/> and <see cref="WatchRegistry"/>, and frames to responses.</summary>
internal sealed class MessageGrpcService(MessageManager messages, WatchRegistry watches) : MessageService.MessageServiceBase
{
    public override async Task<ListMessagesResponse> ListMessages(ListMessagesRequest request, ServerCallContext context) =>
        (await messages.ListAsync(context.GetTenant(), request.ToQuery(), context.CancellationToken)).ToProto();

    public override Task StreamMessages(StreamMessagesRequest request, IServerStreamWriter<StreamMessagesResponse> responseStream, ServerCallContext context) =>
        messages.StreamAsync(context.GetTenant(), request.ToQuery(), new FrameSink<StreamMessagesResponse>(responseStream, f => new() { Frame = f }), context.CancellationToken);

    public override Task GetMessage(GetMessageRequest request, IServerStreamWriter<GetMessageResponse> responseStream, ServerCallContext context) =>
        messages.GetAsync(context.GetTenant(), request.ToQuery(), new FrameSink<GetMessageResponse>(responseStream, f => new() { Frame = f }), context.CancellationToken);

    public override async Task<AcknowledgeMessagesResponse> AcknowledgeMessages(AcknowledgeMessagesRequest request, ServerCallContext context) =>
        (await messages.AcknowledgeAsync(context.GetTenant(), request.ToCommand(), context.CancellationToken)).ToProto();

    public override async Task<DeleteConsumerResponse> DeleteConsumer(DeleteConsumerRequest request, ServerCallContext context) =>
        new() { Forgotten = await messages.DeleteConsumerAsync(context.GetTenant(), request.ToCommand(), context.CancellationToken) };

    public override async Task<DeleteMessagesResponse> DeleteMessages(DeleteMessagesRequest request, ServerCallContext context) =>
        (await messages.DeleteAsync(context.GetTenant(), request.ToCommand(), context.CancellationToken)).ToProto();

    public override Task WatchMessages(WatchMessagesRequest request, IServerStreamWriter<WatchMessagesResponse> responseStream, ServerCallContext context) =>
        watches.WatchAsync(
            context.GetTenant(),
            request.ToQuery(),
            () => context.WriteResponseHeadersAsync([]),
            new FrameSink<WatchMessagesResponse>(responseStream, f => new() { Frame = f }),
            context.CancellationToken);

    /// <summary>Writes each frame to the response stream; the write completes once the frame is serialized, which ends a chunk's loan.</summary>
    private sealed class FrameSink<TResponse>(IServerStreamWriter<TResponse> stream, Func<MailGrpc.V1.MessageFrame, TResponse> wrap) : IMessageFrameSink
    {
        public Task WriteAsync(Messages.MessageFrame frame, CancellationToken cancellationToken) =>
            stream.WriteAsync(wrap(frame.ToProto()), cancellationToken);
    }
}
