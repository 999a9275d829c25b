using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Messages;
using MailGrpc.Server.Pop3;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Sync;

/// <summary>
/// One poll of one mailbox: under the mailbox's POP3 lease it lists the uids, diffs them against the known ones, reads the
/// headers of the new messages with TOP through the shared <see cref="MessageFetcher"/>, appends <c>message.arrived</c> and
/// <c>message.removed</c> events and then stores the listing as known. Events are appended before the known uids are
/// stored, so a poll that dies in between repeats them next time (at least once; the event id is the dedupe key).
/// A mailbox that some replica watches (<see cref="WatchDemand"/>) also gets its listing published for the watchers; a
/// mailbox that is only watched (its sync off, or the engine off on this replica) gets nothing else: no event, no sync state.
/// </summary>
internal sealed partial class SyncPoller(
    MailboxRepository mailboxes,
    Pop3SessionFactory sessions,
    MessageFetcher fetcher,
    ISyncStateStore states,
    IMailEventSink events,
    SyncSchedule schedule,
    IOptions<SyncOptions> options,
    IOptions<Pop3Options> pop3,
    TimeProvider time,
    SyncMetrics metrics,
    Retention.RetentionPass retention,
    WatchDemand watch,
    ILogger<SyncPoller> logger)
{
    /// <summary>A mailbox whose session is held by another call is tried again after at most this.</summary>
    private static readonly TimeSpan BusyRetry = TimeSpan.FromSeconds(5);

    /// <summary>How long a poll waits for a mailbox's lease held by a stream or a watch before trying later.</summary>
    private static readonly TimeSpan MaxLeaseWait = TimeSpan.FromSeconds(2);

    private SyncOptions Sync => options.Value;

    /// <summary>
    /// Polls the mailbox; returns when sync needs it next, or null when sync does not (gone, sync off, or only watched: the
    /// schedule then keeps it due at the watch interval while it is watched, <see cref="ISyncScheduleStore.FinishPollAsync"/>).
    /// </summary>
    public async Task<DateTimeOffset?> PollAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var mailbox = await mailboxes.GetAsync(tenant, mailboxId, cancellationToken);
        var synced = mailbox is not null && Sync.Enabled && schedule.IsSynced(mailbox);
        var watched = mailbox is not null && watch.Deployed && await watch.IsWatchedAsync(tenant, mailboxId, cancellationToken);
        if (mailbox is null || (!synced && !watched))
        {
            if (mailbox is null && Sync.Enabled)
            {
                await states.DeleteAsync(tenant, mailboxId, cancellationToken);
            }

            metrics.Polled(SyncMetrics.PollSkipped);
            return null;
        }

        var interval = Sync.IntervalFor(mailbox.Sync?.Interval);

        // Not ACTIVE (pending, needs re-authorization, disabled): no session; the state change to ACTIVE schedules it again.
        // Its watchers end with the state's error on their own replicas.
        if (mailbox.State != MailboxState.Active)
        {
            metrics.Polled(SyncMetrics.PollSkipped);
            return synced ? time.GetUtcNow() + interval : null;
        }

        MailboxSyncState? state = null;
        try
        {
            var wait = pop3.Value.LeaseWait < MaxLeaseWait ? pop3.Value.LeaseWait : MaxLeaseWait;
            await using var session = await sessions.OpenAsync(mailbox, wait, cancellationToken);
            var entries = await session.ListAsync();
            if (watched)
            {
                // First, so the watchers' replicas learn of new uids before the sync work (TOP, events) is done.
                await watch.Listings.PublishAsync(tenant, mailboxId, entries.Select(e => e.Uid).ToArray(), watch.ListingTime, cancellationToken);
                metrics.WatchPolled();
            }

            if (!synced)
            {
                metrics.Polled(SyncMetrics.PollOk);
                return null;
            }

            state = await states.GetAsync(tenant, mailboxId, cancellationToken);
            entries = await retention.ApplyAsync(session, mailbox, state.KnownUids, entries, cancellationToken);
            var diff = SyncDiff.Compute(state.KnownUids, entries, Sync.EmitExistingOnFirstPoll);
            if (diff.Arrived.Count > 0)
            {
                var plan = diff.Arrived.Select(fetcher.Classify).ToArray();
                await fetcher.FetchAsync(session, plan, headersOnly: true, (fetched, ct) => AppendArrivedAsync(mailbox, fetched, ct), cancellationToken);
            }

            foreach (var uid in diff.Removed)
            {
                await events.AppendAsync(tenant, MailEventData.Removed(mailboxId, uid, time.GetUtcNow()), cancellationToken);
            }

            if (!diff.IsEmpty || state.KnownUids is null || state.ConsecutiveFailures > 0)
            {
                await states.SetKnownAsync(tenant, mailboxId, entries.Select(e => e.Uid).ToArray(), cancellationToken);
            }

            if (state.ConsecutiveFailures > 0)
            {
                LogRecovered(logger, tenant, mailboxId, state.ConsecutiveFailures);
                await events.AppendAsync(tenant, MailEventData.SyncRecovered(mailboxId, time.GetUtcNow()), cancellationToken);
            }

            if (!diff.IsEmpty)
            {
                LogChanges(logger, tenant, mailboxId, diff.Arrived.Count, diff.Removed.Count);
            }

            metrics.Polled(SyncMetrics.PollOk);
            return time.GetUtcNow() + interval;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            var error = ExceptionMapper.Classify(ex, cancellationToken);
            if (watched && MailboxPoller.EndsWatches(error))
            {
                await NotifyWatchersAsync(tenant, mailboxId);
            }

            if (error.Reason == ErrorReasons.MailboxBusy)
            {
                // Another call (a stream, a watch, or a replica whose claim ran out) holds the session: not a failure.
                metrics.Polled(SyncMetrics.PollBusy);
                return synced ? time.GetUtcNow() + (interval < BusyRetry ? interval : BusyRetry) : null;
            }

            if (!synced)
            {
                // Only watched: nothing goes to the tenant's feed; the watchers retry at the next interval (their replicas
                // see a mailbox that stops being ACTIVE or is deleted).
                metrics.Polled(SyncMetrics.PollFailed);
                metrics.PollFailedWith(error.Reason);
                LogWatchPollFailed(logger, tenant, mailboxId, error.Reason);
                return null;
            }

            return await FailedAsync(mailbox, state, error, interval, cancellationToken);
        }
    }

    /// <summary>Tells the watchers' replicas that the poll failed for good (each then lists the mailbox itself and ends its watches with the error).</summary>
    private async Task NotifyWatchersAsync(string tenant, string mailboxId)
    {
        try
        {
            await watch.Listings.PublishFailureAsync(tenant, mailboxId, watch.ListingTime, CancellationToken.None);
        }
#pragma warning disable CA1031 // Best effort: the replicas still end their watches when the mailbox's state changes.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogWatchNoticeFailed(logger, ex, tenant, mailboxId);
        }
    }

    /// <summary>Counts the failure, emits <c>mailbox.sync_failing</c> when the mailbox starts failing, and backs off.</summary>
    private async Task<DateTimeOffset> FailedAsync(MailboxRecord mailbox, MailboxSyncState? state, MailGrpcException error, TimeSpan interval, CancellationToken cancellationToken)
    {
        metrics.Polled(SyncMetrics.PollFailed);
        metrics.PollFailedWith(error.Reason);
        state ??= await states.GetAsync(mailbox.Tenant, mailbox.Id, cancellationToken);
        var failures = state.ConsecutiveFailures + 1;
        LogPollFailed(logger, mailbox.Tenant, mailbox.Id, error.Reason, failures);
        await states.SetFailuresAsync(mailbox.Tenant, mailbox.Id, failures, cancellationToken);
        if (failures == 1)
        {
            await events.AppendAsync(mailbox.Tenant, MailEventData.SyncFailing(mailbox.Id, error.Reason, error.Message, failures, time.GetUtcNow()), cancellationToken);
        }

        return time.GetUtcNow() + Backoff(interval, failures, Sync.MaxBackoff);
    }

    /// <summary>The wait after <paramref name="failures"/> failed polls in a row: the interval, doubled per further failure, at most <paramref name="max"/>.</summary>
    public static TimeSpan Backoff(TimeSpan interval, int failures, TimeSpan max)
    {
        var factor = Math.Pow(2, Math.Clamp(failures - 1, 0, 30));
        return TimeSpan.FromTicks((long)Math.Min(interval.Ticks * factor, Math.Max(max.Ticks, interval.Ticks)));
    }

    private async Task AppendArrivedAsync(MailboxRecord mailbox, FetchedMessage fetched, CancellationToken cancellationToken)
    {
        var envelope = fetched.Envelope
            ?? (fetched.Content is { } headers ? await EnvelopeReader.FromHeaderStreamAsync(headers, cancellationToken) : MessageEnvelope.Empty);
        var entry = fetched.Item.Entry;
        await events.AppendAsync(mailbox.Tenant, MailEventData.Arrived(mailbox.Id, entry.Uid, entry.Size, envelope, time.GetUtcNow()), cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Sync of mailbox {Tenant}/{MailboxId}: {Arrived} arrived, {Removed} removed")]
    private static partial void LogChanges(ILogger logger, string tenant, string mailboxId, int arrived, int removed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sync poll of mailbox {Tenant}/{MailboxId} failed ({Reason}); {Failures} in a row")]
    private static partial void LogPollFailed(ILogger logger, string tenant, string mailboxId, string reason, int failures);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not tell the watchers of mailbox {Tenant}/{MailboxId} that its poll failed")]
    private static partial void LogWatchNoticeFailed(ILogger logger, Exception exception, string tenant, string mailboxId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch poll of mailbox {Tenant}/{MailboxId} failed ({Reason}); retrying at the next interval")]
    private static partial void LogWatchPollFailed(ILogger logger, string tenant, string mailboxId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sync of mailbox {Tenant}/{MailboxId} works again after {Failures} failed polls")]
    private static partial void LogRecovered(ILogger logger, string tenant, string mailboxId, int failures);
}
