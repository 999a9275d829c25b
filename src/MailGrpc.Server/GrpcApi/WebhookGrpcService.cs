using Grpc.Core;
using MailGrpc.Server.Webhooks;
using MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>The gRPC face of webhook endpoints: maps requests to <see cref="WebhookManager"/> and results to responses.</summary>
internal sealed class WebhookGrpcService(WebhookManager webhooks) : WebhookService.WebhookServiceBase
{
    public override async Task<CreateWebhookResponse> CreateWebhook(CreateWebhookRequest request, ServerCallContext context) =>
        (await webhooks.CreateAsync(context.GetTenant(), request.Webhook.ToSpec(), context.CancellationToken)).ToCreateResponse();

    public override async Task<GetWebhookResponse> GetWebhook(GetWebhookRequest request, ServerCallContext context) =>
        new() { Webhook = (await webhooks.GetAsync(context.GetTenant(), request.WebhookId, context.CancellationToken)).ToProto() };

    public override async Task<ListWebhooksResponse> ListWebhooks(ListWebhooksRequest request, ServerCallContext context) =>
        (await webhooks.ListAsync(context.GetTenant(), request.PageSize, request.PageToken, context.CancellationToken)).ToProto();

    public override async Task<UpdateWebhookResponse> UpdateWebhook(UpdateWebhookRequest request, ServerCallContext context) =>
        new() { Webhook = (await webhooks.UpdateAsync(context.GetTenant(), request.Webhook?.WebhookId ?? string.Empty, request.Webhook.ToSpec(), request.ToPaths(), context.CancellationToken)).ToProto() };

    public override async Task<DeleteWebhookResponse> DeleteWebhook(DeleteWebhookRequest request, ServerCallContext context)
    {
        await webhooks.DeleteAsync(context.GetTenant(), request.WebhookId, context.CancellationToken);
        return new DeleteWebhookResponse();
    }

    public override async Task<RotateWebhookSecretResponse> RotateWebhookSecret(RotateWebhookSecretRequest request, ServerCallContext context) =>
        (await webhooks.RotateSecretAsync(context.GetTenant(), request.WebhookId, context.CancellationToken)).ToRotateResponse();

    public override async Task<ListDeadLettersResponse> ListDeadLetters(ListDeadLettersRequest request, ServerCallContext context) =>
        (await webhooks.ListDeadLettersAsync(context.GetTenant(), request.WebhookId, request.PageSize, request.PageToken, context.CancellationToken)).ToProto();

    public override async Task<RedeliverDeadLettersResponse> RedeliverDeadLetters(RedeliverDeadLettersRequest request, ServerCallContext context) =>
        new() { RedeliveredCount = await webhooks.RedeliverAsync(context.GetTenant(), request.WebhookId, request.DeadLetterIds, request.All, context.CancellationToken) };
}
