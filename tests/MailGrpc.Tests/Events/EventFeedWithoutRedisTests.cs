using Grpc.Core;
using MailGrpc.Server.Errors;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Events;

/// <summary>On the embedded development store the feed and webhooks answer FAILED_PRECONDITION EVENTS_REQUIRE_REDIS (and nothing runs in the background).</summary>
[Trait("Layer", "Fast")]
public sealed class EventFeedWithoutRedisTests
{
    [Fact]
    public async Task The_feed_and_webhooks_need_redis()
    {
        var tenant = TestTenant.Create("embedded");
        var settings = MailGrpcTestHost.ApiKeySettings(tenant);
        settings["MailGrpc:Redis:Configuration"] = string.Empty;
        settings["MailGrpc:Encryption:Keys:k1"] = Convert.ToBase64String(new byte[32].Select((_, i) => (byte)(i + 9)).ToArray());
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        await using var host = new MailGrpcTestHost(settings);
        var events = new EventService.EventServiceClient(host.Invoker(tenant.ApiKey));
        var webhooks = new WebhookService.WebhookServiceClient(host.Invoker(tenant.ApiKey));
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, ErrorReasons.EventsRequireRedis, async () =>
        {
            using var call = events.SubscribeEvents(new SubscribeEventsRequest { ConsumerGroup = "g", Consumer = "c" });
            await call.ResponseStream.MoveNext();
        });
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, ErrorReasons.EventsRequireRedis, async () => await events.AcknowledgeEventsAsync(new AcknowledgeEventsRequest { ConsumerGroup = "g", EventIds = { "1-0" } }));
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, ErrorReasons.EventsRequireRedis, async () => await webhooks.CreateWebhookAsync(new CreateWebhookRequest { Webhook = new Webhook { Url = "https://hooks.example.com/x" } }));
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, ErrorReasons.EventsRequireRedis, async () => await webhooks.ListWebhooksAsync(new ListWebhooksRequest()));
    }
}
