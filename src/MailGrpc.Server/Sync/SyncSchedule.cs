using MailGrpc.Server.Configuration;
using MailGrpc.Server.Mailboxes;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Sync;

/// <summary>
/// Keeps the schedule in step with the registry: a mailbox is scheduled while it exists and its sync is enabled (own
/// setting or the default), whatever its state — a poll skips a mailbox that is not ACTIVE without opening a session, so a
/// state change made anywhere takes effect at its next due time. Changes are best effort (the mailbox's write already
/// happened): a failed schedule write is logged and fixed by the engine's repair pass.
/// </summary>
internal sealed partial class SyncSchedule(ISyncScheduleStore store, ISyncStateStore states, IOptions<SyncOptions> options, TimeProvider time, ILogger<SyncSchedule> logger)
{
    private SyncOptions Sync => options.Value;

    public int ShardOf(string member) => SyncKeys.Shard(member, Sync.Shards);

    /// <summary>Whether the engine polls this mailbox (it exists, is not being deleted, and its sync is enabled).</summary>
    public bool IsSynced(MailboxRecord mailbox) =>
        mailbox.DeletingSince is null && mailbox.DeletedAt is null && Sync.EnabledFor(mailbox.Sync?.Enabled);

    /// <summary>
    /// After a create or an update: schedules a synced mailbox (due now when it is new, its sync settings changed or it
    /// became ACTIVE; else as it was), unschedules one whose sync was turned off.
    /// </summary>
    public async Task MailboxChangedAsync(MailboxRecord? previous, MailboxRecord current, CancellationToken cancellationToken)
    {
        if (!Sync.Enabled)
        {
            return;
        }

        var member = SyncKeys.Member(current.Tenant, current.Id);
        try
        {
            if (!IsSynced(current))
            {
                // A watched mailbox stays: the engine keeps polling it for its watchers.
                await store.RemoveUnlessWatchedAsync(ShardOf(member), member, time.GetUtcNow(), cancellationToken);
                return;
            }

            var pollNow = previous is null
                || previous.Sync != current.Sync
                || (current.State == MailboxState.Active && previous.State != MailboxState.Active);
            if (pollNow)
            {
                await store.UpsertAsync(ShardOf(member), member, time.GetUtcNow(), cancellationToken);
            }
            else
            {
                await store.AddIfAbsentAsync(ShardOf(member), member, time.GetUtcNow(), cancellationToken);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogScheduleWriteFailed(logger, ex, current.Tenant, current.Id);
        }
    }

    /// <summary>After a delete: the mailbox leaves the schedule and its sync state goes.</summary>
    public async Task MailboxRemovedAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        if (!Sync.Enabled)
        {
            return;
        }

        var member = SyncKeys.Member(tenant, mailboxId);
        try
        {
            await store.RemoveAsync(ShardOf(member), member, cancellationToken);
            await states.DeleteAsync(tenant, mailboxId, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogScheduleWriteFailed(logger, ex, tenant, mailboxId);
        }
    }

    /// <summary>
    /// The repair pass: schedules a synced mailbox that is missing, leaves a scheduled one as it is. A missing one is due at
    /// a random point within its interval, so turning sync on for thousands of existing mailboxes spreads their polls over
    /// one interval instead of a burst.
    /// </summary>
    public Task EnsureScheduledAsync(MailboxRecord mailbox, CancellationToken cancellationToken)
    {
        if (!IsSynced(mailbox))
        {
            return Task.CompletedTask;
        }

        var member = SyncKeys.Member(mailbox.Tenant, mailbox.Id);
        var spread = TimeSpan.FromTicks((long)(Random.Shared.NextDouble() * Sync.IntervalFor(mailbox.Sync?.Interval).Ticks));
        return store.AddIfAbsentAsync(ShardOf(member), member, time.GetUtcNow() + spread, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not update the sync schedule for mailbox {Tenant}/{MailboxId}; the next repair pass fixes it")]
    private static partial void LogScheduleWriteFailed(ILogger logger, Exception exception, string tenant, string mailboxId);
}
