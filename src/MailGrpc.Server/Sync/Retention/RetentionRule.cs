using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Sync.Retention;

/// <summary>What one poll decides for a mailbox's retention: uids to delete and how the clock changes.</summary>
internal sealed record RetentionDecision(
    IReadOnlyList<string> Due,
    IReadOnlyDictionary<string, DateTimeOffset> ClockStarted,
    IReadOnlyList<string> ClockStopped);

/// <summary>
/// The retention rule, free of I/O: a uid may go only once EVERY required consumer acknowledged it; its clock starts at
/// the first poll that sees that (<paramref name="now"/>), and it is due when clock + delete_after ≤ now. A uid no longer
/// acknowledged by all (a required consumer was deleted, or the uid vanished) loses its clock.
/// </summary>
internal static class RetentionRule
{
    public static RetentionDecision Decide(
        MailboxRetention policy,
        IReadOnlyList<string> acknowledgedByAll,
        IReadOnlyDictionary<string, DateTimeOffset> clock,
        DateTimeOffset now)
    {
        if (policy.Mode != RetentionMode.DeleteWhenAcknowledged || policy.RequiredConsumers.Count == 0)
        {
            return new RetentionDecision([], new Dictionary<string, DateTimeOffset>(), clock.Keys.ToArray());
        }

        var all = new HashSet<string>(acknowledgedByAll, StringComparer.Ordinal);
        var started = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var due = new List<string>();
        foreach (var uid in all)
        {
            if (!clock.TryGetValue(uid, out var since))
            {
                since = now;
                started[uid] = now;
            }

            if (since + policy.DeleteAfter <= now)
            {
                due.Add(uid);
            }
        }

        var stopped = clock.Keys.Where(uid => !all.Contains(uid)).ToArray();
        return new RetentionDecision(due, started, stopped);
    }

    /// <summary>
    /// The uids every required consumer acknowledged: the intersection of their ledgers over <paramref name="candidates"/>.
    /// <paramref name="acknowledged"/> gives, per consumer, whether it acknowledged each candidate (a consumer without a
    /// ledger acknowledged none, so nothing is deletable).
    /// </summary>
    public static IReadOnlyList<string> Intersect(IReadOnlyList<string> candidates, IEnumerable<bool[]> acknowledged)
    {
        var keep = Enumerable.Repeat(true, candidates.Count).ToArray();
        var any = false;
        foreach (var flags in acknowledged)
        {
            any = true;
            for (var i = 0; i < keep.Length; i++)
            {
                keep[i] &= flags[i];
            }
        }

        return any ? candidates.Where((_, i) => keep[i]).ToArray() : [];
    }
}
