using Grpc.Core;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Callers;
using MailGrpc.Server.Diagnostics;
using MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>The gRPC face of the mailbox registry: maps requests to <see cref="MailboxManager"/>, nothing more.</summary>
internal sealed class MailboxGrpcService(MailboxManager mailboxes, MailboxDiagnostics diagnostics) : MailboxService.MailboxServiceBase
{
    public override async Task<CreateMailboxResponse> CreateMailbox(CreateMailboxRequest request, ServerCallContext context)
    {
        var created = await mailboxes.CreateAsync(context.GetTenant(), request, context.CancellationToken);
        return new CreateMailboxResponse { Mailbox = created.ToProto() };
    }

    public override async Task<GetMailboxResponse> GetMailbox(GetMailboxRequest request, ServerCallContext context)
    {
        var mailbox = await mailboxes.GetAsync(context.GetTenant(), request.MailboxId, context.CancellationToken);
        return new GetMailboxResponse { Mailbox = mailbox.ToProto() };
    }

    public override async Task<ListMailboxesResponse> ListMailboxes(ListMailboxesRequest request, ServerCallContext context)
    {
        var (page, next) = await mailboxes.ListAsync(context.GetTenant(), request.PageSize, request.PageToken, context.CancellationToken);
        var response = new ListMailboxesResponse { NextPageToken = next };
        response.Mailboxes.AddRange(page.Select(m => m.ToProto()));
        return response;
    }

    public override async Task<UpdateMailboxResponse> UpdateMailbox(UpdateMailboxRequest request, ServerCallContext context)
    {
        var updated = await mailboxes.UpdateAsync(context.GetTenant(), request, context.CancellationToken);
        return new UpdateMailboxResponse { Mailbox = updated.ToProto() };
    }

    public override async Task<DeleteMailboxResponse> DeleteMailbox(DeleteMailboxRequest request, ServerCallContext context)
    {
        var revoked = await mailboxes.DeleteAsync(context.GetTenant(), request.MailboxId, request.Etag, context.CancellationToken);
        return new DeleteMailboxResponse { RevokedAtProvider = revoked };
    }

    public override Task<DiagnoseMailboxResponse> DiagnoseMailbox(DiagnoseMailboxRequest request, ServerCallContext context) =>
        // Validated before any work, so an unbounded id is never echoed back (INVALID_MAILBOX_ID names no value).
        diagnostics.DiagnoseAsync(context.GetTenant(), Mailboxes.MailboxValidator.ValidateMailboxId(request.MailboxId), context.CancellationToken);
}
