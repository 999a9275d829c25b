using System.Globalization;
using StackExchange.Redis;

namespace MailGrpc.Server.Events;

/// <summary>
/// A tenant's durable event feed on a Redis Stream (one per tenant, hash-tagged for Redis Cluster), consumed through
/// consumer groups: each group sees every event, and the consumers of one group share them (XREADGROUP); an event is
/// pending for the consumer it went to until acknowledged (XACK); a consumer that stops acknowledging loses its pending
/// events to another after the visibility timeout (XAUTOCLAIM); a consumer that reconnects under its name first gets
/// back its own pending events. At-least-once: the stream entry id is the dedupe key.
/// </summary>
/// <remarks>The sync engine appends; <see cref="EventFeed"/> (SubscribeEvents) and the webhook workers consume.</remarks>
internal sealed class RedisEventLog(IConnectionMultiplexer redis, TimeProvider timeProvider, EventLogSettings settings)
{
    private const string TypeField = "type";
    private const string MailboxField = "mailbox";
    private const string OccurredField = "at";
    private const string DataField = "data";

    private IDatabase Db => redis.GetDatabase();

    /// <summary>Appends an event and trims what is older than the retention (and past the length cap). Returns its id.</summary>
    public async Task<string> AppendAsync(string tenant, MailEvent mailEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(mailEvent);
        cancellationToken.ThrowIfCancellationRequested();
        var key = EventLogKeys.Stream(tenant);
        // Stream ids start with the append time in ms, so MINID <now - retention> drops exactly the expired entries.
        var minId = (timeProvider.GetUtcNow() - settings.Retention).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        NameValueEntry[] fields =
        [
            new(TypeField, mailEvent.Type),
            new(MailboxField, mailEvent.MailboxId),
            new(OccurredField, mailEvent.OccurredAt.ToUnixTimeMilliseconds()),
            new(DataField, mailEvent.Data),
        ];
        var id = await Db.StreamAddAsync(key, fields, new StreamAddOptions { MinId = minId, Approximate = settings.ApproximateTrim }).ConfigureAwait(false);
        if (settings.MaxEntries is { } max)
        {
            await Db.StreamTrimAsync(key, max, settings.ApproximateTrim).ConfigureAwait(false);
        }

        return id.ToString();
    }

    /// <summary>
    /// Creates a consumer group (and the stream) if it does not exist. A new group starts with the events appended from
    /// now on (<paramref name="fromBeginning"/>: with every retained event). False when it existed already.
    /// </summary>
    public async Task<bool> EnsureGroupAsync(string tenant, string group, bool fromBeginning, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            return await Db.StreamCreateConsumerGroupAsync(EventLogKeys.Stream(tenant), group, fromBeginning ? StreamPosition.Beginning : StreamPosition.NewMessages, createStream: true).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            return false;
        }
    }

    /// <summary>Up to <paramref name="count"/> events no consumer of the group has been given yet, now pending for this one.</summary>
    public Task<IReadOnlyList<StoredEvent>> ReadNewAsync(string tenant, string group, string consumer, int count, CancellationToken cancellationToken) =>
        ReadGroupAsync(tenant, group, consumer, StreamPosition.NewMessages, count, cancellationToken);

    /// <summary>The events given to this consumer and not yet acknowledged (read them first after a reconnect).</summary>
    public Task<IReadOnlyList<StoredEvent>> ReadPendingAsync(string tenant, string group, string consumer, int count, CancellationToken cancellationToken) =>
        ReadGroupAsync(tenant, group, consumer, StreamPosition.Beginning, count, cancellationToken);

    /// <summary>The consumer's pending events with ids after <paramref name="afterId"/>, oldest first (pages through them after a reconnect).</summary>
    public Task<IReadOnlyList<StoredEvent>> ReadPendingAfterAsync(string tenant, string group, string consumer, string afterId, int count, CancellationToken cancellationToken) =>
        ReadGroupAsync(tenant, group, consumer, afterId, count, cancellationToken);

    /// <summary>Removes a consumer group and its pending list (a deleted webhook endpoint). False when it did not exist.</summary>
    public async Task<bool> DeleteGroupAsync(string tenant, string group, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            return await Db.StreamDeleteConsumerGroupAsync(EventLogKeys.Stream(tenant), group).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.Contains("no such key", StringComparison.OrdinalIgnoreCase) || e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
        {
            return false;
        }
    }

    /// <summary>Acknowledges events by id; returns how many were pending (a repeated acknowledgement counts 0).</summary>
    public async Task<long> AcknowledgeAsync(string tenant, string group, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        cancellationToken.ThrowIfCancellationRequested();
        if (ids.Count == 0) return 0;
        return await Db.StreamAcknowledgeAsync(EventLogKeys.Stream(tenant), group, ids.Select(i => (RedisValue)i).ToArray()).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes over, for <paramref name="consumer"/>, up to <paramref name="count"/> events another consumer of the group
    /// was given and has not acknowledged for at least <paramref name="visibilityTimeout"/> (XAUTOCLAIM). Pending
    /// events trimmed by the retention meanwhile are dropped from the group's pending list by Redis and not returned.
    /// </summary>
    public async Task<IReadOnlyList<StoredEvent>> ClaimExpiredAsync(string tenant, string group, string consumer, TimeSpan visibilityTimeout, int count, CancellationToken cancellationToken)
    {
        var key = EventLogKeys.Stream(tenant);
        var claimed = new List<StoredEvent>();
        RedisValue start = "0-0";
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            var result = await Db.StreamAutoClaimAsync(key, group, consumer, (long)visibilityTimeout.TotalMilliseconds, start, count - claimed.Count).ConfigureAwait(false);
            claimed.AddRange(result.ClaimedEntries.Where(e => !e.IsNull && !e[TypeField].IsNull).Select(Parse));
            start = result.NextStartId;
        }
        while (claimed.Count < count && start != "0-0");

        return claimed;
    }

    /// <summary>
    /// One XAUTOCLAIM page: up to <paramref name="count"/> pending events of the group from <paramref name="start"/> on,
    /// idle at least <paramref name="minIdle"/>, now this consumer's; and the cursor of the next page (<c>0-0</c>: done).
    /// </summary>
    public async Task<(IReadOnlyList<StoredEvent> Events, string Next)> ClaimPageAsync(string tenant, string group, string consumer, TimeSpan minIdle, string start, int count, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var result = await Db.StreamAutoClaimAsync(EventLogKeys.Stream(tenant), group, consumer, (long)minIdle.TotalMilliseconds, start, count).ConfigureAwait(false);
        return (result.ClaimedEntries.Where(e => !e.IsNull && !e[TypeField].IsNull).Select(Parse).ToList(), result.NextStartId.ToString());
    }

    private async Task<IReadOnlyList<StoredEvent>> ReadGroupAsync(string tenant, string group, string consumer, RedisValue position, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        cancellationToken.ThrowIfCancellationRequested();
        var entries = await Db.StreamReadGroupAsync(EventLogKeys.Stream(tenant), group, consumer, position, count).ConfigureAwait(false);
        // An entry trimmed away while pending comes back with no fields: nothing to deliver, acknowledge it away.
        return entries.Where(e => !e.IsNull && !e[TypeField].IsNull).Select(Parse).ToList();
    }

    /// <summary>When an event was appended: the milliseconds part of its stream id.</summary>
    public static DateTimeOffset AppendTimeOf(string eventId)
    {
        var dash = eventId.IndexOf('-', StringComparison.Ordinal);
        return long.TryParse(dash < 0 ? eventId : eventId[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms)
            : DateTimeOffset.UnixEpoch;
    }

    private static StoredEvent Parse(StreamEntry entry) => new(
        entry.Id.ToString(),
        new MailEvent(
            entry[TypeField].ToString(),
            entry[MailboxField].ToString(),
            DateTimeOffset.FromUnixTimeMilliseconds((long)entry[OccurredField]),
            entry[DataField].ToString()));
}
