using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Storage;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Events;

/// <summary>What a subscription asks for: its group and consumer, its filters, where a new group starts, its visibility timeout.</summary>
internal sealed record EventSubscription(
    string Group,
    string Consumer,
    IReadOnlySet<string> EventTypes,
    IReadOnlySet<string> MailboxIds,
    bool FromEarliest,
    TimeSpan VisibilityTimeout)
{
    /// <summary>True when the event passes the filters (an empty filter passes everything).</summary>
    public bool Matches(MailEvent mailEvent) =>
        (EventTypes.Count == 0 || EventTypes.Contains(mailEvent.Type)) && (MailboxIds.Count == 0 || MailboxIds.Contains(mailEvent.MailboxId));
}

/// <summary>An event as given to one consumer; <paramref name="Redelivered"/> when the group gave it out before.</summary>
internal sealed record DeliveredEvent(StoredEvent Stored, bool Redelivered);

/// <summary>
/// SubscribeEvents without gRPC: one consumer of a consumer group on the tenant's stream. First the consumer's own pending
/// events (a reconnect resumes them), then, in a loop, the group's events another consumer (or this one) left
/// unacknowledged past the visibility timeout (XAUTOCLAIM) and the new ones (XREADGROUP). Events the filters exclude are
/// acknowledged for the group at once. Idle, it looks again every <see cref="EventOptions.PollInterval"/>.
/// </summary>
internal sealed class EventFeed(Lazy<RedisEventLog> logAccess, IStateStore store, IOptions<EventOptions> options, TimeProvider time)
{
    // Lazy: on the embedded development store there is no Redis (every call is refused first).
    private RedisEventLog log => logAccess.Value;

    public async Task SubscribeAsync(string tenant, EventSubscription subscription, Func<Task> started, Func<DeliveredEvent, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        ArgumentNullException.ThrowIfNull(started);
        ArgumentNullException.ThrowIfNull(write);
        if (store.IsEmbedded) throw Failures.EventsRequireRedis();
        var settings = options.Value;
        await log.EnsureGroupAsync(tenant, subscription.Group, subscription.FromEarliest, cancellationToken);
        await started();

        // Resume: everything this consumer was given and did not acknowledge, oldest first.
        var after = "0-0";
        while (true)
        {
            var pending = await log.ReadPendingAfterAsync(tenant, subscription.Group, subscription.Consumer, after, settings.BatchSize, cancellationToken);
            if (pending.Count == 0) break;
            await DeliverAsync(tenant, subscription, pending, redelivered: true, write, cancellationToken);
            after = pending[^1].Id;
        }

        // Takeover checks need not run at every poll: a quarter of the timeout (at most a second) bounds the extra delay.
        var claimEvery = TimeSpan.FromTicks(Math.Min(subscription.VisibilityTimeout.Ticks / 4, TimeSpan.TicksPerSecond));
        var nextClaim = time.GetUtcNow() + claimEvery;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var got = 0;
            if (time.GetUtcNow() >= nextClaim)
            {
                var claimed = await log.ClaimExpiredAsync(tenant, subscription.Group, subscription.Consumer, subscription.VisibilityTimeout, settings.BatchSize, cancellationToken);
                await DeliverAsync(tenant, subscription, claimed, redelivered: true, write, cancellationToken);
                got += claimed.Count;
                nextClaim = time.GetUtcNow() + claimEvery;
            }

            var fresh = await log.ReadNewAsync(tenant, subscription.Group, subscription.Consumer, settings.BatchSize, cancellationToken);
            await DeliverAsync(tenant, subscription, fresh, redelivered: false, write, cancellationToken);
            got += fresh.Count;
            if (got == 0)
            {
                await Task.Delay(settings.PollInterval, time, cancellationToken);
            }
        }
    }

    /// <summary>Acknowledges events for a group; returns how many were pending.</summary>
    public Task<long> AcknowledgeAsync(string tenant, string group, IReadOnlyList<string> eventIds, CancellationToken cancellationToken)
    {
        if (store.IsEmbedded) throw Failures.EventsRequireRedis();
        return log.AcknowledgeAsync(tenant, group, eventIds, cancellationToken);
    }

    private async Task DeliverAsync(string tenant, EventSubscription subscription, IReadOnlyList<StoredEvent> events, bool redelivered, Func<DeliveredEvent, CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        List<string>? skipped = null;
        foreach (var stored in events)
        {
            if (subscription.Matches(stored.Event))
            {
                await write(new DeliveredEvent(stored, redelivered), cancellationToken);
            }
            else
            {
                (skipped ??= []).Add(stored.Id);
            }
        }

        if (skipped is not null)
        {
            await log.AcknowledgeAsync(tenant, subscription.Group, skipped, cancellationToken);
        }
    }
}
