using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Webhooks;

/// <summary>Webhook endpoints and delivery through the gRPC API, on the rig's single Redis, to a real HTTP receiver on 127.0.0.1.</summary>
public sealed class WebhookDeliveryTests
{
    [Fact]
    public Task Deliveries_are_signed_accepted_once_per_event_and_in_mailbox_order_after_receiver_failures() =>
        WebhookScenarios.DeliversSignedOncePerEventInMailboxOrderAfterFailuresAsync(TestRedis.Configuration);

    [Fact]
    public Task A_receiver_down_past_max_age_gets_dead_letters_that_are_listed_and_redelivered() =>
        WebhookScenarios.DeadLettersPastMaxAgeAndRedeliversAsync(TestRedis.Configuration);

    [Fact]
    public Task Endpoints_are_managed_rotated_filtered_disabled_and_deleted_per_tenant() =>
        WebhookScenarios.ManagesEndpointsRotatesSecretsAndFiltersAsync(TestRedis.Configuration);

    [Fact]
    public Task Private_and_metadata_urls_are_refused_at_registration_and_at_connect() =>
        WebhookScenarios.RefusesPrivateUrlsAtRegistrationAndAtConnectAsync(TestRedis.Configuration);
}
