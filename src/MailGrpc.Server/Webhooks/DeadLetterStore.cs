using MailGrpc.Server.Configuration;
using MailGrpc.Server.Events;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MailGrpc.Server.Webhooks;

/// <summary>An event queued for delivery again, with its entry in the endpoint's redelivery stream.</summary>
internal sealed record Redelivery(string EntryId, StoredEvent Event);

/// <summary>
/// An endpoint's dead letters and redeliveries: two Redis Streams under the tenant's webhook hash tag. A delivery given up
/// is appended to the dead-letter stream (capped at <see cref="WebhookOptions.MaxDeadLetters"/>, oldest dropped first);
/// a redelivery moves it to the redelivery stream, which the endpoint's lease holder drains (removing each entry once
/// delivered or dead-lettered again).
/// </summary>
internal sealed class DeadLetterStore(Lazy<IConnectionMultiplexer> redis, IOptions<WebhookOptions> options, TimeProvider time)
{
    private const string EventIdField = "event_id";
    private const string TypeField = "type";
    private const string MailboxField = "mailbox";
    private const string OccurredField = "at";
    private const string DataField = "data";
    private const string AttemptsField = "attempts";
    private const string StatusField = "status";
    private const string ErrorField = "error";
    private const string DeadAtField = "dead_at";
    private const int MovePage = 100;

    // Lazy: on the embedded development store there is no Redis, and nothing here is called.
    private IDatabase Db => redis.Value.GetDatabase();

    public async Task AddAsync(string tenant, string endpointId, StoredEvent stored, int attempts, int lastStatus, string lastError, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        NameValueEntry[] fields =
        [
            .. EventFields(stored),
            new(AttemptsField, attempts),
            new(StatusField, lastStatus),
            new(ErrorField, lastError),
            new(DeadAtField, time.GetUtcNow().ToUnixTimeMilliseconds()),
        ];
        await Db.StreamAddAsync(WebhookKeys.DeadLetters(tenant, endpointId), fields, maxLength: (int)Math.Min(options.Value.MaxDeadLetters, int.MaxValue), useApproximateMaxLength: true);
    }

    /// <summary>Up to <paramref name="count"/> dead letters after <paramref name="afterId"/> (null: from the oldest).</summary>
    public async Task<IReadOnlyList<DeadLetter>> ListAsync(string tenant, string endpointId, string? afterId, int count, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var entries = await Db.StreamRangeAsync(WebhookKeys.DeadLetters(tenant, endpointId), afterId is null ? "-" : "(" + afterId, "+", count);
        return entries.Where(e => !e.IsNull).Select(ParseDeadLetter).ToList();
    }

    /// <summary>Moves the given dead letters to the redelivery stream; returns how many were still dead-lettered.</summary>
    public async Task<long> RedeliverAsync(string tenant, string endpointId, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        long moved = 0;
        foreach (var id in ids)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var entries = await Db.StreamRangeAsync(WebhookKeys.DeadLetters(tenant, endpointId), id, id, 1);
            if (entries.Length == 1 && !entries[0].IsNull) moved += await MoveAsync(tenant, endpointId, entries[0]);
        }

        return moved;
    }

    /// <summary>Moves every dead letter of the endpoint to the redelivery stream.</summary>
    public async Task<long> RedeliverAllAsync(string tenant, string endpointId, CancellationToken cancellationToken)
    {
        long moved = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var entries = await Db.StreamRangeAsync(WebhookKeys.DeadLetters(tenant, endpointId), "-", "+", MovePage);
            if (entries.Length == 0) return moved;
            foreach (var entry in entries)
            {
                moved += await MoveAsync(tenant, endpointId, entry);
            }
        }
    }

    /// <summary>Up to <paramref name="count"/> queued redeliveries after <paramref name="afterEntryId"/>, oldest first.</summary>
    public async Task<IReadOnlyList<Redelivery>> ReadRedeliveriesAsync(string tenant, string endpointId, string? afterEntryId, int count, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var entries = await Db.StreamRangeAsync(WebhookKeys.Redeliveries(tenant, endpointId), afterEntryId is null ? "-" : "(" + afterEntryId, "+", count);
        return entries.Where(e => !e.IsNull).Select(e => new Redelivery(e.Id.ToString(), ParseEvent(e))).ToList();
    }

    public Task RemoveRedeliveryAsync(string tenant, string endpointId, string entryId) =>
        Db.StreamDeleteAsync(WebhookKeys.Redeliveries(tenant, endpointId), [entryId]);

    public Task DeleteAllAsync(string tenant, string endpointId, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // Both keys carry the tenant's hash tag: one multi-key DEL works on Redis Cluster.
        return Db.KeyDeleteAsync([WebhookKeys.DeadLetters(tenant, endpointId), WebhookKeys.Redeliveries(tenant, endpointId)]);
    }

    private async Task<long> MoveAsync(string tenant, string endpointId, StreamEntry entry)
    {
        // Queue first, then remove: a crash in between redelivers twice (at least once), never zero times.
        await Db.StreamAddAsync(WebhookKeys.Redeliveries(tenant, endpointId), EventFields(ParseEvent(entry)));
        return await Db.StreamDeleteAsync(WebhookKeys.DeadLetters(tenant, endpointId), [entry.Id]);
    }

    private static NameValueEntry[] EventFields(StoredEvent stored) =>
    [
        new(EventIdField, stored.Id),
        new(TypeField, stored.Event.Type),
        new(MailboxField, stored.Event.MailboxId),
        new(OccurredField, stored.Event.OccurredAt.ToUnixTimeMilliseconds()),
        new(DataField, stored.Event.Data),
    ];

    private static StoredEvent ParseEvent(StreamEntry entry) => new(
        entry[EventIdField].ToString(),
        new MailEvent(entry[TypeField].ToString(), entry[MailboxField].ToString(), DateTimeOffset.FromUnixTimeMilliseconds((long)entry[OccurredField]), entry[DataField].ToString()));

    private static DeadLetter ParseDeadLetter(StreamEntry entry) => new(
        entry.Id.ToString(),
        ParseEvent(entry),
        (int)entry[AttemptsField],
        (int)entry[StatusField],
        entry[ErrorField].ToString(),
        DateTimeOffset.FromUnixTimeMilliseconds((long)entry[DeadAtField]));
}
