using System.Diagnostics.Metrics;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Messages;
using MailGrpc.Server.Pop3;
using MailGrpc.Server.Telemetry;

namespace MailGrpc.Server.Sync.Retention;

/// <summary>
/// A mailbox's retention, run by the sync poll in its own session under the mailbox lease (so on exactly one replica, on
/// schedule). Only uids the previous poll already knew are considered (their <c>message.arrived</c> went out first). The
/// due ones are deleted with <see cref="MessageDeleter"/> (the same DELE / QUIT / proof rule as AcknowledgeMessages with
/// delete), and the poll goes on with the server's listing after the deletion: its diff then sees them removed and emits
/// <c>message.removed</c> once, through the one path that emits it.
/// </summary>
internal sealed partial class RetentionPass(
    ConsumerLedger ledger,
    MessageDeleter deleter,
    IRetentionClockStore clocks,
    TimeProvider time,
    IMeterFactory meterFactory,
    ILogger<RetentionPass> logger)
{
    private readonly Counter<long> _deleted = meterFactory.Create(MailGrpcMetrics.MeterName)
        .CreateCounter<long>("mailgrpc.sync.retention.deleted", "{message}", "Messages deleted by retention policies.");

    /// <summary>Applies the mailbox's policy; returns the listing the poll should go on with (after any deletion).</summary>
    public async Task<IReadOnlyList<Pop3Entry>> ApplyAsync(
        Pop3Session session, MailboxRecord mailbox, IReadOnlyList<string>? knownUids, IReadOnlyList<Pop3Entry> entries, CancellationToken cancellationToken)
    {
        if (mailbox.Retention is not { Mode: RetentionMode.DeleteWhenAcknowledged } policy || knownUids is null)
        {
            return entries;
        }

        var known = new HashSet<string>(knownUids, StringComparer.Ordinal);
        var candidates = entries.Select(e => e.Uid).Where(known.Contains).ToArray();
        var acknowledged = new List<bool[]>(policy.RequiredConsumers.Count);
        foreach (var consumer in policy.RequiredConsumers)
        {
            acknowledged.Add(await ledger.ContainsAsync(mailbox.Tenant, mailbox.Id, consumer, candidates, cancellationToken));
        }

        var byAll = RetentionRule.Intersect(candidates, acknowledged);
        var clock = await clocks.GetAsync(mailbox.Tenant, mailbox.Id, cancellationToken);
        if (byAll.Count == 0 && clock.Count == 0)
        {
            return entries;
        }

        var decision = RetentionRule.Decide(policy, byAll, clock, time.GetUtcNow());
        await clocks.UpdateAsync(mailbox.Tenant, mailbox.Id, decision.ClockStarted, decision.ClockStopped, cancellationToken);
        if (decision.Due.Count == 0)
        {
            return entries;
        }

        var (deleted, _) = await deleter.DeleteAsync(session, mailbox, decision.Due, cancellationToken);
        await clocks.UpdateAsync(mailbox.Tenant, mailbox.Id, new Dictionary<string, DateTimeOffset>(), deleted, cancellationToken);
        _deleted.Add(deleted.Count);
        LogDeleted(logger, mailbox.Tenant, mailbox.Id, deleted.Count);
        return await session.ListAsync();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention deleted {Count} acknowledged messages of mailbox {Tenant}/{MailboxId}")]
    private static partial void LogDeleted(ILogger logger, string tenant, string mailboxId, int count);
}
