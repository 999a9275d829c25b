using MailGrpc.Server.Callers;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Mailboxes;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Sync;

/// <summary>
/// The sync loop of one replica. It claims due mailboxes from the schedule's shards — at most its free poll slots, in
/// batches of <c>ClaimBatchSize</c>, so a joining replica takes work gradually and a busy one takes none — and polls each
/// (<see cref="SyncPoller"/>), then writes the mailbox's next due time. A claim re-scores the entry to now + ClaimTimeout:
/// if this replica dies, the entry falls due again then and another replica claims it (the takeover bound). Draining
/// (stop) cancels the polls in flight and makes their mailboxes due at once, so the others take them over without waiting.
/// At start, and every <see cref="RepairInterval"/>, it schedules any synced mailbox of the configured tenants that a
/// failed write left out. With the Redis store it also runs while sync is off, as long as this replica has watchers
/// (<see cref="WatchDemand"/>): it then claims due mailboxes and polls those that are watched, putting back (as they were)
/// any it may not sync.
/// </summary>
internal sealed partial class SyncEngine(
    ISyncScheduleStore store,
    SyncSchedule schedule,
    SyncPoller poller,
    MailboxRepository mailboxes,
    IOptions<SyncOptions> options,
    IOptions<ApiKeysOptions> apiKeys,
    TimeProvider time,
    SyncMetrics metrics,
    WatchDemand watch,
    ILogger<SyncEngine> logger) : BackgroundService
{
    public static readonly TimeSpan RepairInterval = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan BacklogEvery = TimeSpan.FromSeconds(5);

    private SyncOptions Sync => options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Sync.Enabled && !watch.Deployed)
        {
            return;
        }

        if (Sync.Enabled)
        {
            LogStarted(logger, Sync.MaxConcurrentPolls, Sync.Shards, Sync.ClaimTimeout.TotalSeconds);
        }
        else
        {
            LogStartedForWatches(logger, Sync.Shards);
        }

        var repair = Sync.Enabled ? RepairLoopAsync(stoppingToken) : Task.CompletedTask;
        var slots = new SemaphoreSlim(Sync.MaxConcurrentPolls, Sync.MaxConcurrentPolls);
        var running = new HashSet<Task>();
        var shard = Random.Shared.Next(Sync.Shards);
        var lastBacklog = DateTimeOffset.MinValue;
        var failures = 0;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                if (!Sync.Enabled && !watch.HasLocalWatches)
                {
                    // Sync off and nothing watched here: replicas with watchers poll what is watched.
                    await Task.Delay(Sync.IdleWait, time, stoppingToken);
                    continue;
                }

                if (slots.CurrentCount == 0)
                {
                    // Every slot busy: wait for one to free up before claiming more.
                    await slots.WaitAsync(stoppingToken);
                    slots.Release();
                    continue;
                }

                // Loop again at once only while a shard gave a full batch (more may be due); else wait IdleWait, so an
                // idle or lightly loaded replica costs Shards claims per IdleWait and not a round per poll.
                var moreDue = false;
                try
                {
                    for (var i = 0; i < Sync.Shards && slots.CurrentCount > 0; i++, shard = (shard + 1) % Sync.Shards)
                    {
                        var now = time.GetUtcNow();
                        var wanted = Math.Min(slots.CurrentCount, Sync.ClaimBatchSize);
                        var claimed = await store.ClaimAsync(shard, now, now + Sync.ClaimTimeout, wanted, stoppingToken);
                        foreach (var entry in claimed)
                        {
                            // Never blocks: no more were claimed than slots were free, and only this loop takes slots.
                            slots.Wait(0, CancellationToken.None);
                            var task = PollClaimedAsync(shard, entry, now, slots, stoppingToken);
                            lock (running)
                            {
                                running.Add(task);
                            }

                            _ = task.ContinueWith(t => { lock (running) { running.Remove(t); } }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                        }

                        // With sync off here, entries it may not sync go back as they were: claiming again at once would spin.
                        moreDue |= claimed.Count == wanted && Sync.Enabled;
                    }

                    if (time.GetUtcNow() - lastBacklog >= BacklogEvery)
                    {
                        lastBacklog = time.GetUtcNow();
                        long due = 0;
                        for (var s = 0; s < Sync.Shards; s++)
                        {
                            due += await store.CountDueAsync(s, lastBacklog, stoppingToken);
                        }

                        metrics.SetBacklog(due);
                    }

                    failures = 0;
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    failures++;
                    LogClaimFailed(logger, ex, failures);
                }

                if (!moreDue)
                {
                    var wait = failures == 0 ? Sync.IdleWait : TimeSpan.FromTicks(Math.Min(Sync.IdleWait.Ticks * (1L << Math.Min(failures, 6)), TimeSpan.FromSeconds(30).Ticks));
                    await Task.Delay(wait, time, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            Task[] left;
            lock (running)
            {
                left = [.. running];
            }

            await Task.WhenAll(left);
            await repair;
            LogStopped(logger, left.Length);
        }
    }

    /// <summary>Polls one claimed mailbox within its claim and writes when it is next due (or unschedules it).</summary>
    private async Task PollClaimedAsync(int shard, ClaimedEntry entry, DateTimeOffset claimedAt, SemaphoreSlim slots, CancellationToken stoppingToken)
    {
        await Task.Yield();
        var (tenant, mailboxId) = SyncKeys.ParseMember(entry.Member);
        if (!Sync.Enabled && !await IsWatchedAsync(tenant, mailboxId))
        {
            // Sync is off here but the mailbox is scheduled (synced by replicas where it is on): back as it was, for them.
            slots.Release();
            await PutBackAsync(shard, entry);
            return;
        }

        metrics.PollStarted(claimedAt - entry.DueAt);
        DateTimeOffset? next;

        // The poll must end before the claim does, or another replica could take the mailbox while this one still polls it
        // (the lease would still keep their sessions apart).
        using var deadline = new CancellationTokenSource(Sync.ClaimTimeout * 0.9, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, deadline.Token);
        try
        {
            next = await poller.PollAsync(tenant, mailboxId, linked.Token);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            next = time.GetUtcNow(); // draining: due now, for another replica
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            metrics.Polled(SyncMetrics.PollTimeout);
            LogPollTimedOut(logger, tenant, mailboxId, Sync.ClaimTimeout.TotalSeconds);
            next = time.GetUtcNow() + Sync.DefaultInterval;
        }
#pragma warning disable CA1031 // A poll's bug must not stop the loop: logged, and the mailbox is tried again later.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            metrics.Polled(SyncMetrics.PollFailed);
            LogPollCrashed(logger, ex, tenant, mailboxId);
            next = time.GetUtcNow() + Sync.DefaultInterval;
        }
        finally
        {
            slots.Release();
        }

        try
        {
            // Due when sync needs it, or at the watch interval while some replica watches it; else it leaves the schedule.
            var now = time.GetUtcNow();
            await store.FinishPollAsync(shard, entry.Member, next, now, now + watch.Interval, CancellationToken.None);
        }
#pragma warning disable CA1031 // The claim runs out on its own: the mailbox is then due again.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogRescheduleFailed(logger, ex, tenant, mailboxId);
        }
    }

    private async Task<bool> IsWatchedAsync(string tenant, string mailboxId)
    {
        try
        {
            return await watch.IsWatchedAsync(tenant, mailboxId, CancellationToken.None);
        }
#pragma warning disable CA1031 // Unknown: treated as watched, so the poll decides (it looks again).
        catch (Exception)
#pragma warning restore CA1031
        {
            return true;
        }
    }

    private async Task PutBackAsync(int shard, ClaimedEntry entry)
    {
        try
        {
            await store.RescheduleAsync(shard, entry.Member, entry.DueAt, CancellationToken.None);
        }
#pragma warning disable CA1031 // The claim runs out on its own: the mailbox is then due again.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            var (tenant, mailboxId) = SyncKeys.ParseMember(entry.Member);
            LogRescheduleFailed(logger, ex, tenant, mailboxId);
        }
    }

    private async Task RepairLoopAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var repaired = await RepairAsync(stoppingToken);
                    LogRepaired(logger, repaired);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    LogRepairFailed(logger, ex);
                }

                await Task.Delay(RepairInterval, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Schedules every synced mailbox of the configured tenants that is not scheduled (ZADD NX). Returns how many it examined.</summary>
    public async Task<int> RepairAsync(CancellationToken cancellationToken)
    {
        var tenants = apiKeys.Value.ApiKeys.Select(k => k.Tenant).Append(CallerClaims.AnonymousTenant).Distinct(StringComparer.Ordinal);
        var examined = 0;
        foreach (var tenant in tenants)
        {
            string? after = null;
            bool more;
            do
            {
                var (page, lastId, hasMore) = await mailboxes.ListAsync(tenant, after, 200, cancellationToken);
                foreach (var mailbox in page)
                {
                    await schedule.EnsureScheduledAsync(mailbox, cancellationToken);
                    examined++;
                }

                after = lastId;
                more = hasMore;
            }
            while (more);
        }

        return examined;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Sync engine started: {Slots} poll slots, {Shards} schedule shards, claim timeout {ClaimSeconds} s")]
    private static partial void LogStarted(ILogger logger, int slots, int shards, double claimSeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sync is off; the engine polls watched mailboxes ({Shards} schedule shards) while this replica has watchers")]
    private static partial void LogStartedForWatches(ILogger logger, int shards);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sync engine stopped; {InFlight} polls were in flight and are due again at once")]
    private static partial void LogStopped(ILogger logger, int inFlight);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sync engine could not claim due mailboxes ({Failures} in a row); retrying")]
    private static partial void LogClaimFailed(ILogger logger, Exception exception, int failures);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sync poll of mailbox {Tenant}/{MailboxId} ran past its claim ({ClaimSeconds} s) and was cancelled")]
    private static partial void LogPollTimedOut(ILogger logger, string tenant, string mailboxId, double claimSeconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sync poll of mailbox {Tenant}/{MailboxId} crashed")]
    private static partial void LogPollCrashed(ILogger logger, Exception exception, string tenant, string mailboxId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the next due time of mailbox {Tenant}/{MailboxId}; its claim runs out and it is due again then")]
    private static partial void LogRescheduleFailed(ILogger logger, Exception exception, string tenant, string mailboxId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Sync schedule repair pass examined {Examined} mailboxes")]
    private static partial void LogRepaired(ILogger logger, int examined);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sync schedule repair pass failed; retrying at the next pass")]
    private static partial void LogRepairFailed(ILogger logger, Exception exception);
}
