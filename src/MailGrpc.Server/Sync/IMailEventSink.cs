using MailGrpc.Server.Events;

namespace MailGrpc.Server.Sync;

/// <summary>
/// Where the producers (the sync engine, mailbox state changes) put events: the tenant's Redis Stream in a server
/// (<see cref="RedisMailEventSink"/>), a list in fast tests. An append that returns is durable in the feed.
/// </summary>
internal interface IMailEventSink
{
    /// <summary>Appends an event to the tenant's feed; returns its id (the dedupe key).</summary>
    Task<string> AppendAsync(string tenant, MailEvent mailEvent, CancellationToken cancellationToken);
}

/// <summary>The tenant event log on Redis (<see cref="RedisEventLog"/>).</summary>
internal sealed class RedisMailEventSink(RedisEventLog log, SyncMetrics metrics) : IMailEventSink
{
    public async Task<string> AppendAsync(string tenant, MailEvent mailEvent, CancellationToken cancellationToken)
    {
        var id = await log.AppendAsync(tenant, mailEvent, cancellationToken);
        metrics.EventAppended(mailEvent.Type);
        return id;
    }
}

/// <summary>The embedded (development) store has no event feed: events are dropped.</summary>
internal sealed class DiscardingMailEventSink : IMailEventSink
{
    public Task<string> AppendAsync(string tenant, MailEvent mailEvent, CancellationToken cancellationToken) => Task.FromResult(string.Empty);
}
