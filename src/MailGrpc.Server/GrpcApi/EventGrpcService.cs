using Grpc.Core;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Events;
using MailGrpc.V1;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.GrpcApi;

/// <summary>The gRPC face of the tenant event feed: maps requests to <see cref="EventFeed"/> and events to responses.</summary>
internal sealed class EventGrpcService(EventFeed feed, IOptions<EventOptions> options) : EventService.EventServiceBase
{
    public override Task SubscribeEvents(SubscribeEventsRequest request, IServerStreamWriter<SubscribeEventsResponse> responseStream, ServerCallContext context) =>
        feed.SubscribeAsync(
            context.GetTenant(),
            request.ToSubscription(options.Value.VisibilityTimeout),
            () => context.WriteResponseHeadersAsync([]),
            (delivered, cancellationToken) => responseStream.WriteAsync(delivered.ToProto(), cancellationToken),
            context.CancellationToken);

    public override async Task<AcknowledgeEventsResponse> AcknowledgeEvents(AcknowledgeEventsRequest request, ServerCallContext context) =>
        new() { AcknowledgedCount = await feed.AcknowledgeAsync(context.GetTenant(), EventNames.ValidateGroup(request.ConsumerGroup), request.ToEventIds(), context.CancellationToken) };
}
