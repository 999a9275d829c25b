using MailGrpc.Server.Mailboxes;

// Until Mailboxes.MailboxState (core, #12) replaces the proto enum on MailboxRecord; then this line goes.
using MailboxState = MailGrpc.Server.Mailboxes.MailboxState;

namespace MailGrpc.Server.Authorization;

/// <summary>Server-side mailbox state changes caused by authorization events; a DISABLED mailbox stays disabled.</summary>
/// Each change is handed to the <see cref="Sync.MailboxChangeFeed"/> (sync schedule, <c>mailbox.state_changed</c> event).
internal sealed partial class MailboxStateRecorder(MailboxRepository mailboxes, Sync.MailboxChangeFeed changes, ILogger<MailboxStateRecorder> logger)
{
    public Task<MailboxRecord?> MarkActiveAsync(string tenant, string mailboxId, CancellationToken cancellationToken) =>
        UpdateAsync(tenant, mailboxId, m => m with
        {
            State = m.State == Mailboxes.MailboxState.Disabled ? m.State : Mailboxes.MailboxState.Active,
            LastErrorReason = null,
            LastErrorMessage = null,
        }, cancellationToken);

    public Task<MailboxRecord?> MarkPendingAsync(string tenant, string mailboxId, CancellationToken cancellationToken) =>
        UpdateAsync(tenant, mailboxId, m => m with
        {
            State = m.State == Mailboxes.MailboxState.Disabled ? m.State : Mailboxes.MailboxState.PendingAuthorization,
            LastErrorReason = null,
            LastErrorMessage = null,
        }, cancellationToken);

    public async Task<MailboxRecord?> MarkReauthorizationRequiredAsync(string tenant, string mailboxId, string reason, string message, CancellationToken cancellationToken)
    {
        LogReauthorizationRequired(logger, tenant, mailboxId, reason);
        return await UpdateAsync(tenant, mailboxId, m => m with
        {
            State = m.State == Mailboxes.MailboxState.Disabled ? m.State : Mailboxes.MailboxState.ReauthorizationRequired,
            LastErrorReason = reason,
            LastErrorMessage = message,
        }, cancellationToken);
    }

    /// <summary>Updates the mailbox and hands the change (the version it was applied to, and the result) to the change feed.</summary>
    private async Task<MailboxRecord?> UpdateAsync(string tenant, string mailboxId, Func<MailboxRecord, MailboxRecord> mutate, CancellationToken cancellationToken)
    {
        MailboxRecord? previous = null;
        var updated = await mailboxes.UpdateAsync(tenant, mailboxId, m =>
        {
            previous = m; // the last call is the version the stored change was applied to
            return mutate(m);
        }, cancellationToken);
        await changes.ChangedAsync(previous, updated, cancellationToken);
        return updated;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Mailbox {Tenant}/{MailboxId} needs a new authorization: {Reason}")]
    private static partial void LogReauthorizationRequired(ILogger logger, string tenant, string mailboxId, string reason);
}
