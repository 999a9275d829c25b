using Grpc.Core;
using MailGrpc.Server.Callers;
using MailGrpc.Server.Diagnostics;
using MailGrpc.Server.Mailboxes;
using MailGrpc.V1;

namespace MailGrpc.Server.GrpcApi;

/// <summary>
/// The gRPC face of the mailbox registry: converts each request to the manager's domain types (<see cref="MailboxProtoMapper"/>),
/// calls <see cref="MailboxManager"/> or <see cref="MailboxDiagnostics"/>, and converts the result back. Nothing more.
/// </summary>
internal sealed class MailboxGrpcService(MailboxManager mailboxes, MailboxDiagnostics diagnostics) : MailboxService.MailboxServiceBase
{
    public override async Task<CreateMailboxResponse> CreateMailbox(CreateMailboxRequest request, ServerCallContext context)
    {
        var created = await mailboxes.CreateAsync(context.GetTenant(), request.ToDomain(), context.CancellationToken);
        return new CreateMailboxResponse { Mailbox = created.ToProto() };
    }

    public override async Task<GetMailboxResponse> GetMailbox(GetMailboxRequest request, ServerCallContext context)
    {
        var mailbox = await mailboxes.GetAsync(context.GetTenant(), request.MailboxId, context.CancellationToken);
        return new GetMailboxResponse { Mailbox = mailbox.ToProto() };
    }

    public override async Task<ListMailboxesResponse> ListMailboxes(ListMailboxesRequest request, ServerCallContext context)
    {
        var page = await mailboxes.ListAsync(context.GetTenant(), request.PageSize, request.PageToken, context.CancellationToken);
        var response = new ListMailboxesResponse { NextPageToken = page.NextPageToken };
        response.Mailboxes.AddRange(page.Mailboxes.Select(m => m.ToProto()));
        return response;
    }

    public override async Task<UpdateMailboxResponse> UpdateMailbox(UpdateMailboxRequest request, ServerCallContext context)
    {
        var updated = await mailboxes.UpdateAsync(context.GetTenant(), request.ToDomain(), context.CancellationToken);
        return new UpdateMailboxResponse { Mailbox = updated.ToProto() };
    }

    public override async Task<DeleteMailboxResponse> DeleteMailbox(DeleteMailboxRequest request, ServerCallContext context)
    {
        var revoked = await mailboxes.DeleteAsync(context.GetTenant(), request.MailboxId, request.Etag, context.CancellationToken);
        return new DeleteMailboxResponse { RevokedAtProvider = revoked };
    }

    public override async Task<DiagnoseMailboxResponse> DiagnoseMailbox(DiagnoseMailboxRequest request, ServerCallContext context)
    {
        // Validated before any work, so an unbounded id is never echoed back (INVALID_MAILBOX_ID names no value).
        var diagnosis = await diagnostics.DiagnoseAsync(context.GetTenant(), MailboxValidator.ValidateMailboxId(request.MailboxId), context.CancellationToken);
        return diagnosis.ToProto();
    }
}
