using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Events;

/// <summary>SubscribeEvents and AcknowledgeEvents through the gRPC API on the rig's single Redis; events appended as the sync engine does.</summary>
public sealed class SubscribeEventsTests
{
    [Fact]
    public Task Two_consumers_of_one_group_share_the_events() =>
        SubscribeEventsScenarios.TwoConsumersOfOneGroupShareTheEventsAsync(TestRedis.Configuration);

    [Fact]
    public Task A_killed_consumers_events_are_taken_over_after_the_visibility_timeout() =>
        SubscribeEventsScenarios.AKilledConsumersEventsAreTakenOverAfterTheVisibilityTimeoutAsync(TestRedis.Configuration);

    [Fact]
    public Task A_reconnect_resumes_its_pending_events_first() =>
        SubscribeEventsScenarios.AReconnectResumesItsPendingEventsFirstAsync(TestRedis.Configuration);

    [Fact]
    public Task Filters_stream_only_matching_events_and_acknowledge_the_rest() =>
        SubscribeEventsScenarios.FiltersStreamOnlyMatchingEventsAsync(TestRedis.Configuration);

    [Fact]
    public Task Bad_requests_are_refused_with_reasons_and_tenants_stay_apart() =>
        SubscribeEventsScenarios.RefusesBadRequestsAndKeepsTenantsApartAsync(TestRedis.Configuration);
}
