namespace MailGrpc.Server.Errors;

/// <summary>The event feed's and webhook endpoints' failures (docs/errors.md, "Events and webhooks").</summary>
internal static partial class Failures
{
    public static MailGrpcException InvalidConsumerGroup() =>
        Invalid(ErrorReasons.InvalidConsumerGroup, "consumer_group", "consumer_group must be 1-100 characters of A-Z a-z 0-9 . _ - and must not start with 'webhook.'.");

    public static MailGrpcException InvalidEventConsumer() =>
        Invalid(ErrorReasons.InvalidConsumer, "consumer", "consumer must be 1-100 characters of A-Z a-z 0-9 . _ -.");

    public static MailGrpcException InvalidEventType(string field) =>
        Invalid(ErrorReasons.InvalidEventType, field, "Each event type must be 1-64 characters of a-z 0-9 . _ (e.g. message.arrived); at most 32 of them.");

    public static MailGrpcException InvalidEventIds() =>
        Invalid(ErrorReasons.InvalidEventId, "event_ids", "event_ids must hold 1-1000 event ids of the form <milliseconds>-<sequence>.");

    public static MailGrpcException InvalidMailboxFilter() =>
        Invalid(ErrorReasons.InvalidMailboxId, "mailbox_ids", "Each of mailbox_ids must be 1-63 characters of a-z, 0-9 and '-', starting with a letter; at most 1000 of them.");

    public static MailGrpcException InvalidVisibilityTimeout() =>
        Invalid(ErrorReasons.InvalidVisibilityTimeout, "visibility_timeout", "visibility_timeout must be between 1 second and 12 hours.");

    public static MailGrpcException InvalidWebhookId() =>
        Invalid(ErrorReasons.InvalidWebhookId, "webhook_id", "webhook_id must be 'wh-' and 16 lower-case hex digits.");

    /// <summary>The URL is never echoed: it may carry a token in its path or query.</summary>
    public static MailGrpcException InvalidWebhookUrl(string why) =>
        Invalid(ErrorReasons.InvalidWebhookUrl, "webhook.url", $"url must be an absolute https URL of at most 2048 characters without user info or fragment: {why}.");

    public static MailGrpcException InvalidWebhookDescription() =>
        InvalidArgument("webhook.description", "description must be at most 256 characters without control characters.");

    public static MailGrpcException WebhookRequired() => InvalidArgument("webhook", "webhook is required.");

    public static MailGrpcException WebhookUrlNotAllowed(string host) => new(
        ErrorKind.PermissionDenied,
        ErrorReasons.WebhookUrlNotAllowed,
        $"Webhook host '{host}' is, is named as, or resolves to a loopback, private, link-local or metadata address; an operator can allow it with MailGrpc:Webhooks:AllowedHosts.",
        new Dictionary<string, string> { ["host"] = host });

    public static MailGrpcException WebhookNotFound(string webhookId) => new(
        ErrorKind.NotFound,
        ErrorReasons.WebhookNotFound,
        $"Webhook '{webhookId}' does not exist.",
        new Dictionary<string, string> { ["webhook_id"] = webhookId });

    public static MailGrpcException WebhookLimitReached(int limit) => new(
        ErrorKind.ResourceExhausted,
        ErrorReasons.WebhookLimitReached,
        $"The tenant has {limit} webhook endpoints, the most MailGrpc:Webhooks:MaxEndpointsPerTenant allows; delete one first.");

    public static MailGrpcException InvalidDeadLetterIds() =>
        Invalid(ErrorReasons.InvalidDeadLetterId, "dead_letter_ids", "Give either all=true or 1-1000 dead_letter_ids of the form <milliseconds>-<sequence>.");

    public static MailGrpcException EventsRequireRedis() => new(
        ErrorKind.FailedPrecondition,
        ErrorReasons.EventsRequireRedis,
        "The event feed and webhooks need Redis: set MailGrpc:Redis:Configuration (this server runs on the embedded development store).");

    /// <summary>A webhook was changed concurrently by another call (its version moved); retry.</summary>
    public static MailGrpcException WebhookChangedConcurrently() =>
        new(ErrorKind.Aborted, ErrorReasons.EtagMismatch, "The webhook is being changed concurrently; retry.");
}
