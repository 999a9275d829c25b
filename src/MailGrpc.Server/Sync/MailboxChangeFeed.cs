using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Sync;

/// <summary>
/// What a mailbox change sets off, called by everything that writes one (the registry's create, update and delete; the
/// authorization layer's state changes): the sync schedule follows it, and a change of state is appended to the tenant's
/// feed as <c>mailbox.state_changed</c> (with the ErrorInfo reason that caused it, e.g. the reason of a
/// REAUTHORIZATION_REQUIRED). Both come after the mailbox's own write and never fail it: an append that fails is logged.
/// </summary>
internal sealed partial class MailboxChangeFeed(IMailEventSink events, SyncSchedule schedule, TimeProvider time, ILogger<MailboxChangeFeed> logger)
{
    public async Task CreatedAsync(MailboxRecord mailbox, CancellationToken cancellationToken) =>
        await schedule.MailboxChangedAsync(null, mailbox, cancellationToken);

    public async Task ChangedAsync(MailboxRecord? previous, MailboxRecord? current, CancellationToken cancellationToken)
    {
        if (current is null)
        {
            return;
        }

        await schedule.MailboxChangedAsync(previous, current, cancellationToken);
        if (previous is null || previous.State == current.State)
        {
            return;
        }

        var reason = current.State == MailboxState.ReauthorizationRequired ? current.LastErrorReason : null;
        try
        {
            await events.AppendAsync(current.Tenant, MailEventData.StateChanged(current.Id, current.State, previous.State, reason, time.GetUtcNow()), cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogAppendFailed(logger, ex, current.Tenant, current.Id, MailEventData.StateName(current.State));
        }
    }

    public Task DeletedAsync(string tenant, string mailboxId, CancellationToken cancellationToken) =>
        schedule.MailboxRemovedAsync(tenant, mailboxId, cancellationToken);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not append mailbox.state_changed ({State}) for mailbox {Tenant}/{MailboxId}")]
    private static partial void LogAppendFailed(ILogger logger, Exception exception, string tenant, string mailboxId, string state);
}
