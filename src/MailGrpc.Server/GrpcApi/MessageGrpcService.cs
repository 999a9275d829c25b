using Grpc.Core;
using MailGrpc.Server.Callers;
using MailGrpc.Server.Messages;
using MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>The gRPC face of POP3 retrieval: maps requests to <see cref="MessageManager"/> and <see cref="WatchHub"/>.</summary>
internal sealed class MessageGrpcService(MessageManager messages, WatchHub watches) : MessageService.MessageServiceBase
{
    public override Task<ListMessagesResponse> ListMessages(ListMessagesRequest request, ServerCallContext context) =>
        messages.ListAsync(context.GetTenant(), request, context.CancellationToken);

    public override Task StreamMessages(StreamMessagesRequest request, IServerStreamWriter<StreamMessagesResponse> responseStream, ServerCallContext context) =>
        messages.StreamAsync(context.GetTenant(), request, frame => responseStream.WriteAsync(new StreamMessagesResponse { Frame = frame }, context.CancellationToken), context.CancellationToken);

    public override Task GetMessage(GetMessageRequest request, IServerStreamWriter<GetMessageResponse> responseStream, ServerCallContext context) =>
        messages.GetAsync(context.GetTenant(), request, frame => responseStream.WriteAsync(new GetMessageResponse { Frame = frame }, context.CancellationToken), context.CancellationToken);

    public override Task<AcknowledgeMessagesResponse> AcknowledgeMessages(AcknowledgeMessagesRequest request, ServerCallContext context) =>
        messages.AcknowledgeAsync(context.GetTenant(), request, context.CancellationToken);

    public override Task<DeleteMessagesResponse> DeleteMessages(DeleteMessagesRequest request, ServerCallContext context) =>
        messages.DeleteAsync(context.GetTenant(), request, context.CancellationToken);

    public override Task WatchMessages(WatchMessagesRequest request, IServerStreamWriter<WatchMessagesResponse> responseStream, ServerCallContext context) =>
        watches.WatchAsync(
            context.GetTenant(),
            request,
            () => context.WriteResponseHeadersAsync([]),
            frame => responseStream.WriteAsync(new WatchMessagesResponse { Frame = frame }, context.CancellationToken),
            context.CancellationToken);
}
