using System.Globalization;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Pop3;

namespace MailGrpc.Server.Messages;

/// <summary>
/// MessageService's rules. Every call validates first, reads the mailbox (only ACTIVE ones are read), then opens its own
/// POP3 session under the mailbox's lease and closes it before returning — sessions live only as long as a call needs them.
/// </summary>
internal sealed partial class MessageManager(
    MailboxRepository mailboxes,
    Pop3SessionFactory sessions,
    MessageFetcher fetcher,
    MessageFrameWriter frames,
    ConsumerLedger ledger,
    MessageDeleter deleter,
    ILogger<MessageManager> logger)
{
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 1000;

    public async Task<MessageListing> ListAsync(string tenant, ListMessagesQuery query, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(query.MailboxId);
        if (query.PageSize < 0)
        {
            throw Failures.InvalidPageSize();
        }

        var pageSize = query.PageSize == 0 ? DefaultPageSize : Math.Min(query.PageSize, MaxPageSize);
        var consumer = MessageRequestValidator.OptionalConsumer(query.Consumer);
        var position = PageToken.Decode(query.PageToken, tenant, ListKind(mailboxId));
        var mailbox = await GetActiveAsync(tenant, mailboxId, cancellationToken);

        await using var session = await sessions.OpenAsync(mailbox, cancellationToken);
        var entries = await session.ListAsync();
        await ledger.ObserveListingAsync(tenant, mailboxId, entries.Select(e => e.Uid), cancellationToken);
        var start = StartAfter(entries, position);
        var page = entries.Skip(start).Take(pageSize).ToArray();

        var acknowledged = consumer is null ? null : await ledger.ContainsAsync(tenant, mailboxId, consumer, page.Select(e => e.Uid).ToArray(), cancellationToken);
        var envelopes = new MessageEnvelope?[page.Length];
        if (query.IncludeHeaders && page.Length > 0)
        {
            var plan = page.Select(e => new PlanItem(PlanKind.Fetch, e)).ToArray();
            var collect = new EnvelopeCollector(envelopes);
            await fetcher.FetchAsync(session, plan, headersOnly: true, (fetched, ct) => frames.WriteAsync("ListMessages", fetched, headersOnly: true, collect, ct), cancellationToken);
        }

        var items = new MessageListItem[page.Length];
        for (var i = 0; i < page.Length; i++)
        {
            items[i] = new MessageListItem(page[i].Uid, page[i].Size, acknowledged?[i] ?? false, envelopes[i]);
        }

        var nextPageToken = string.Empty;
        if (start + page.Length < entries.Count && page.Length > 0)
        {
            var last = page[^1];
            nextPageToken = PageToken.Encode(tenant, ListKind(mailboxId), string.Create(CultureInfo.InvariantCulture, $"{last.Index}|{last.Uid}"));
        }

        return new MessageListing(items, nextPageToken, entries.Count, entries.Sum(e => e.Size));
    }

    public async Task StreamAsync(string tenant, StreamMessagesQuery request, IMessageFrameSink sink, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(request.MailboxId);
        var consumer = MessageRequestValidator.OptionalConsumer(request.Consumer);
        if (request.OnlyUnacknowledged && consumer is null)
        {
            throw Failures.ConsumerRequired();
        }

        if (request.MaxMessages < 0 || request.MaxBytes < 0)
        {
            throw Failures.InvalidLimit(request.MaxMessages < 0 ? "max_messages" : "max_bytes");
        }

        var headersOnly = MessageRequestValidator.HeadersOnly(request.View);
        var uids = MessageRequestValidator.Uids(request.Uids, allowEmpty: true);
        var mailbox = await GetActiveAsync(tenant, mailboxId, cancellationToken);

        await using var session = await sessions.OpenAsync(mailbox, cancellationToken);
        var entries = await session.ListAsync();
        await ledger.ObserveListingAsync(tenant, mailboxId, entries.Select(e => e.Uid), cancellationToken);
        IReadOnlyList<PlanItem> candidates;
        if (uids.Count > 0)
        {
            var byUid = ByUid(entries);
            candidates = uids.Select(uid => byUid.TryGetValue(uid, out var entry) ? fetcher.Classify(entry) : new PlanItem(PlanKind.NotFound, new Pop3Entry(-1, uid, 0))).ToArray();
        }
        else
        {
            candidates = entries.Select(fetcher.Classify).ToArray();
        }

        if (request.OnlyUnacknowledged)
        {
            var acked = await ledger.ContainsAsync(tenant, mailboxId, consumer!, candidates.Select(c => c.Entry.Uid).ToArray(), cancellationToken);
            candidates = candidates.Where((_, i) => !acked[i]).ToArray();
        }

        var plan = Limit(candidates, request.MaxMessages, headersOnly ? 0 : request.MaxBytes);
        LogStreaming(logger, mailboxId, plan.Count, entries.Count);
        await fetcher.FetchAsync(session, plan, headersOnly, (fetched, ct) => frames.WriteAsync("StreamMessages", fetched, headersOnly, sink, ct), cancellationToken);
    }

    public async Task GetAsync(string tenant, GetMessageQuery request, IMessageFrameSink sink, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(request.MailboxId);
        var uid = MessageRequestValidator.Uid(request.Uid);
        var headersOnly = MessageRequestValidator.HeadersOnly(request.View);
        var mailbox = await GetActiveAsync(tenant, mailboxId, cancellationToken);

        await using var session = await sessions.OpenAsync(mailbox, cancellationToken);
        var entries = await session.ListAsync();
        await ledger.ObserveListingAsync(tenant, mailboxId, entries.Select(e => e.Uid), cancellationToken);
        if (!ByUid(entries).TryGetValue(uid, out var entry))
        {
            throw Failures.MessageNotFound(mailboxId, uid);
        }

        await fetcher.FetchAsync(session, [fetcher.Classify(entry)], headersOnly, (fetched, ct) => frames.WriteAsync("GetMessage", fetched, headersOnly, sink, ct), cancellationToken);
    }

    public async Task<AcknowledgeMessagesResult> AcknowledgeAsync(string tenant, AcknowledgeMessagesCommand request, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(request.MailboxId);
        var consumer = MessageRequestValidator.Consumer(request.Consumer);
        var uids = MessageRequestValidator.Uids(request.Uids, allowEmpty: false);
        var mailbox = await mailboxes.GetRequiredAsync(tenant, mailboxId, cancellationToken);
        if (request.Delete)
        {
            MessageRequestValidator.EnsureActive(mailbox);
        }

        // The ledger first: a delete that fails half-way still leaves the acknowledgement, and a retry is idempotent.
        // Only uids the server listed are recorded; the others are answered as missing, and never deleted by this call.
        var (recorded, unknown) = await ledger.RecordAsync(tenant, mailboxId, consumer, uids, cancellationToken);
        IReadOnlyList<string> deletedUids = [];
        if (request.Delete && recorded.Count > 0)
        {
            var (deleted, missing) = await DeleteOnServerAsync(mailbox, recorded, cancellationToken);
            deletedUids = deleted;
            unknown = [.. unknown, .. missing];
        }

        // In request order, so a caller can line them up with what it sent.
        var missingSet = new HashSet<string>(unknown, StringComparer.Ordinal);
        return new AcknowledgeMessagesResult(recorded, deletedUids, uids.Where(missingSet.Remove).ToArray());
    }

    /// <summary>Forgets a consumer of the mailbox and its ledger; true when it existed. Idempotent.</summary>
    public async Task<bool> DeleteConsumerAsync(string tenant, DeleteConsumerCommand request, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(request.MailboxId);
        var consumer = MessageRequestValidator.Consumer(request.Consumer);
        await mailboxes.GetRequiredAsync(tenant, mailboxId, cancellationToken);
        return await ledger.ForgetAsync(tenant, mailboxId, consumer, cancellationToken);
    }

    public async Task<DeleteMessagesResult> DeleteAsync(string tenant, DeleteMessagesCommand request, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(request.MailboxId);
        var uids = MessageRequestValidator.Uids(request.Uids, allowEmpty: false);
        var mailbox = await GetActiveAsync(tenant, mailboxId, cancellationToken);
        var (deleted, missing) = await DeleteOnServerAsync(mailbox, uids, cancellationToken);
        return new DeleteMessagesResult(deleted, missing);
    }

    /// <summary>Deletes on the server in a session of its own (<see cref="MessageDeleter"/>).</summary>
    private async Task<(List<string> Deleted, List<string> Missing)> DeleteOnServerAsync(MailboxRecord mailbox, IReadOnlyList<string> uids, CancellationToken cancellationToken)
    {
        await using var session = await sessions.OpenAsync(mailbox, cancellationToken);
        return await deleter.DeleteAsync(session, mailbox, uids, cancellationToken);
    }

    private async Task<MailboxRecord> GetActiveAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var mailbox = await mailboxes.GetRequiredAsync(tenant, mailboxId, cancellationToken);
        MessageRequestValidator.EnsureActive(mailbox);
        return mailbox;
    }

    private static List<PlanItem> Limit(IReadOnlyList<PlanItem> candidates, int maxMessages, long maxBytes)
    {
        var plan = new List<PlanItem>();
        long bytes = 0;
        foreach (var item in candidates)
        {
            if (maxMessages > 0 && plan.Count >= maxMessages)
            {
                break;
            }

            var size = item.Kind == PlanKind.Fetch ? item.Entry.Size : 0;
            if (maxBytes > 0 && bytes + size > maxBytes)
            {
                break;
            }

            bytes += size;
            plan.Add(item);
        }

        return plan;
    }

    private static Dictionary<string, Pop3Entry> ByUid(IReadOnlyList<Pop3Entry> entries)
    {
        var map = new Dictionary<string, Pop3Entry>(entries.Count, StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            map.TryAdd(entry.Uid, entry);
        }

        return map;
    }

    private static string ListKind(string mailboxId) => "messages:" + mailboxId;

    /// <summary>Where the next page starts: after the uid of the previous page's last message, or at its old position when it is gone.</summary>
    private static int StartAfter(IReadOnlyList<Pop3Entry> entries, string? position)
    {
        if (position is null)
        {
            return 0;
        }

        var bar = position.IndexOf('|', StringComparison.Ordinal);
        if (bar <= 0 || !int.TryParse(position.AsSpan(0, bar), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            throw Failures.InvalidPageToken();
        }

        var uid = position[(bar + 1)..];
        for (var i = Math.Min(index, entries.Count - 1); i >= 0; i--)
        {
            if (entries[i].Uid == uid)
            {
                return i + 1;
            }
        }

        return Math.Min(index + 1, entries.Count);
    }

    /// <summary>Keeps the envelope of each summary, in plan order (ListMessages' include_headers).</summary>
    private sealed class EnvelopeCollector(MessageEnvelope?[] envelopes) : IMessageFrameSink
    {
        private int _next;

        public Task WriteAsync(MessageFrame frame, CancellationToken cancellationToken)
        {
            if (frame is MessageSummaryFrame summary)
            {
                envelopes[_next++] = summary.Envelope;
            }

            return Task.CompletedTask;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Streaming {Count} of {Total} messages of mailbox {MailboxId}")]
    private static partial void LogStreaming(ILogger logger, string mailboxId, int count, int total);

}
