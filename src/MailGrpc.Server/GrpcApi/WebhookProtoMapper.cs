using Google.Protobuf.WellKnownTypes;
using MailGrpc.Server.Webhooks;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>WebhookService's proto ⇄ domain conversions. Secrets appear only in the create and rotate responses.</summary>
internal static class WebhookProtoMapper
{
    public static WebhookSpec? ToSpec(this V1.Webhook? webhook) =>
        webhook is null ? null : new WebhookSpec(webhook.Url, webhook.EventTypes, webhook.Enabled, webhook.Description);

    public static IReadOnlyCollection<string> ToPaths(this V1.UpdateWebhookRequest request) => request.UpdateMask?.Paths.ToList() ?? [];

    public static V1.Webhook ToProto(this WebhookView view) => new()
    {
        WebhookId = view.Id,
        Url = view.Url,
        EventTypes = { view.EventTypes },
        Enabled = view.Enabled,
        Description = view.Description,
        CreateTime = Timestamp.FromDateTimeOffset(view.CreateTime),
        UpdateTime = Timestamp.FromDateTimeOffset(view.UpdateTime),
        SecretRotateTime = Timestamp.FromDateTimeOffset(view.SecretRotateTime),
    };

    public static V1.CreateWebhookResponse ToCreateResponse(this WebhookWithSecret created) => new() { Webhook = created.Webhook.ToProto(), Secret = created.Secret };

    public static V1.RotateWebhookSecretResponse ToRotateResponse(this WebhookWithSecret rotated) => new() { Webhook = rotated.Webhook.ToProto(), Secret = rotated.Secret };

    public static V1.ListWebhooksResponse ToProto(this WebhookPage page) => new() { Webhooks = { page.Webhooks.Select(w => w.ToProto()) }, NextPageToken = page.NextPageToken };

    public static V1.ListDeadLettersResponse ToProto(this DeadLetterPage page) => new()
    {
        DeadLetters =
        {
            page.DeadLetters.Select(d => new V1.DeadLetter
            {
                DeadLetterId = d.Id,
                Event = d.Event.ToProto(),
                Attempts = d.Attempts,
                LastStatusCode = d.LastStatusCode,
                LastError = d.LastError,
                DeadLetterTime = Timestamp.FromDateTimeOffset(d.DeadLetterTime),
            }),
        },
        NextPageToken = page.NextPageToken,
    };
}
