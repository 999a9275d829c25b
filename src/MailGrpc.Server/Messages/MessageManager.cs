using System.Globalization;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Pop3;
using Microsoft.Extensions.Options;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.Messages;

/// <summary>
/// MessageService's rules. Every call validates first, reads the mailbox (only ACTIVE ones are read), then opens its own
/// POP3 session under the mailbox's lease and closes it before returning — sessions live only as long as a call needs them.
/// </summary>
internal sealed partial class MessageManager(
    MailboxRepository mailboxes,
    Pop3SessionFactory sessions,
    MessageStreamer streamer,
    ConsumerLedger ledger,
    IOptions<Pop3Options> options,
    ILogger<MessageManager> logger)
{
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 1000;

    private Pop3Options Pop3 => options.Value;

    public async Task<V1.ListMessagesResponse> ListAsync(string tenant, V1.ListMessagesRequest request, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(request.MailboxId);
        if (request.PageSize < 0)
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidPageSize, "page_size", "page_size must not be negative.");
        }

        var pageSize = request.PageSize == 0 ? DefaultPageSize : Math.Min(request.PageSize, MaxPageSize);
        var consumer = MessageRequestValidator.OptionalConsumer(request.Consumer);
        var position = PageToken.Decode(request.PageToken, tenant, ListKind(mailboxId));
        var mailbox = await GetActiveAsync(tenant, mailboxId, cancellationToken);

        await using var session = await sessions.OpenAsync(mailbox, cancellationToken);
        var entries = await session.ListAsync();
        await ledger.ObserveListingAsync(tenant, mailboxId, entries.Select(e => e.Uid), cancellationToken);
        var start = StartAfter(entries, position);
        var page = entries.Skip(start).Take(pageSize).ToArray();

        var response = new V1.ListMessagesResponse { TotalCount = entries.Count, TotalSize = entries.Sum(e => e.Size) };
        var acknowledged = consumer is null ? null : await ledger.ContainsAsync(tenant, mailboxId, consumer, page.Select(e => e.Uid).ToArray(), cancellationToken);
        var infos = new V1.MessageInfo[page.Length];
        for (var i = 0; i < page.Length; i++)
        {
            infos[i] = new V1.MessageInfo { Uid = page[i].Uid, Size = page[i].Size, Acknowledged = acknowledged?[i] ?? false };
        }

        if (request.IncludeHeaders && page.Length > 0)
        {
            var plan = page.Select(e => new PlanItem(PlanKind.Fetch, e)).ToArray();
            var next = 0;
            await streamer.StreamAsync("ListMessages", session, plan, headersOnly: true, frame =>
            {
                if (frame.FrameCase == V1.MessageFrame.FrameOneofCase.Summary)
                {
                    infos[next++].Envelope = frame.Summary.Envelope;
                }

                return Task.CompletedTask;
            }, cancellationToken);
        }

        response.Messages.AddRange(infos);
        if (start + page.Length < entries.Count && page.Length > 0)
        {
            var last = page[^1];
            response.NextPageToken = PageToken.Encode(tenant, ListKind(mailboxId), string.Create(CultureInfo.InvariantCulture, $"{last.Index}|{last.Uid}"));
        }

        return response;
    }

    public async Task StreamAsync(string tenant, V1.StreamMessagesRequest request, Func<V1.MessageFrame, Task> write, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(request.MailboxId);
        var consumer = MessageRequestValidator.OptionalConsumer(request.Consumer);
        if (request.OnlyUnacknowledged && consumer is null)
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidConsumer, "consumer", "only_unacknowledged needs a consumer.");
        }

        if (request.MaxMessages < 0 || request.MaxBytes < 0)
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidLimit, request.MaxMessages < 0 ? "max_messages" : "max_bytes", "max_messages and max_bytes must not be negative.");
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
            candidates = uids.Select(uid => byUid.TryGetValue(uid, out var entry) ? Classify(entry) : new PlanItem(PlanKind.NotFound, new Pop3Entry(-1, uid, 0))).ToArray();
        }
        else
        {
            candidates = entries.Select(Classify).ToArray();
        }

        if (request.OnlyUnacknowledged)
        {
            var acked = await ledger.ContainsAsync(tenant, mailboxId, consumer!, candidates.Select(c => c.Entry.Uid).ToArray(), cancellationToken);
            candidates = candidates.Where((_, i) => !acked[i]).ToArray();
        }

        var plan = Limit(candidates, request.MaxMessages, headersOnly ? 0 : request.MaxBytes);
        LogStreaming(logger, mailboxId, plan.Count, entries.Count);
        await streamer.StreamAsync("StreamMessages", session, plan, headersOnly, write, cancellationToken);
    }

    public async Task GetAsync(string tenant, V1.GetMessageRequest request, Func<V1.MessageFrame, Task> write, CancellationToken cancellationToken)
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
            throw new MailGrpcException(ErrorKind.NotFound, ErrorReasons.MessageNotFound, $"Message '{uid}' is not in mailbox '{mailboxId}'.", new Dictionary<string, string> { ["uid"] = uid });
        }

        await streamer.StreamAsync("GetMessage", session, [Classify(entry)], headersOnly, write, cancellationToken);
    }

    public async Task<V1.AcknowledgeMessagesResponse> AcknowledgeAsync(string tenant, V1.AcknowledgeMessagesRequest request, CancellationToken cancellationToken)
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
        var response = new V1.AcknowledgeMessagesResponse();
        response.AcknowledgedUids.AddRange(recorded);
        if (request.Delete && recorded.Count > 0)
        {
            var (deleted, missing) = await DeleteOnServerAsync(tenant, mailbox, recorded, cancellationToken);
            response.DeletedUids.AddRange(deleted);
            unknown = [.. unknown, .. missing];
        }

        // In request order, so a caller can line them up with what it sent.
        var missingSet = new HashSet<string>(unknown, StringComparer.Ordinal);
        response.MissingUids.AddRange(uids.Where(missingSet.Remove));

        return response;
    }

    public async Task<V1.DeleteMessagesResponse> DeleteAsync(string tenant, V1.DeleteMessagesRequest request, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(request.MailboxId);
        var uids = MessageRequestValidator.Uids(request.Uids, allowEmpty: false);
        var mailbox = await GetActiveAsync(tenant, mailboxId, cancellationToken);
        var (deleted, missing) = await DeleteOnServerAsync(tenant, mailbox, uids, cancellationToken);
        var response = new V1.DeleteMessagesResponse();
        response.DeletedUids.AddRange(deleted);
        response.MissingUids.AddRange(missing);
        return response;
    }

    /// <summary>
    /// DELE by uid, QUIT, then a new login under the same lease checks by uid that the QUIT really removed them (MailKit
    /// swallows a failed QUIT). Leftovers get one more round; still there after that → UNAVAILABLE, safe to retry.
    /// </summary>
    private async Task<(List<string> Deleted, List<string> Missing)> DeleteOnServerAsync(string tenant, MailboxRecord mailbox, IReadOnlyList<string> uids, CancellationToken cancellationToken)
    {
        await using var session = await sessions.OpenAsync(mailbox, cancellationToken);
        var present = ByUid(await session.ListAsync());
        var missing = uids.Where(u => !present.ContainsKey(u)).ToList();
        var toDelete = uids.Where(present.ContainsKey).ToList();
        var pending = toDelete;
        for (var round = 0; round < 2 && pending.Count > 0; round++)
        {
            var current = ByUid(await session.ListAsync());
            var indexes = pending.Where(current.ContainsKey).Select(u => current[u].Index).ToArray();
            await session.MarkDeletedAsync(indexes);
            await session.CommitAndReopenAsync();
            var after = ByUid(await session.ListAsync());
            pending = pending.Where(after.ContainsKey).ToList();
        }

        // The deleted uids leave the listed set and every ledger (the final listing is the server's truth).
        await ledger.ObserveListingAsync(tenant, mailbox.Id, ByUid(await session.ListAsync()).Keys, cancellationToken);
        if (pending.Count > 0)
        {
            throw MailGrpcException.Unavailable(ErrorReasons.Pop3DeleteNotCommitted, $"The POP3 server did not commit the deletion of {pending.Count} message(s); retrying the call is safe.");
        }

        LogDeleted(logger, mailbox.Id, toDelete.Count, missing.Count);
        return (toDelete, missing);
    }

    private async Task<MailboxRecord> GetActiveAsync(string tenant, string mailboxId, CancellationToken cancellationToken)
    {
        var mailbox = await mailboxes.GetRequiredAsync(tenant, mailboxId, cancellationToken);
        MessageRequestValidator.EnsureActive(mailbox);
        return mailbox;
    }

    private PlanItem Classify(Pop3Entry entry) => new(entry.Size > Pop3.MaxMessageSize ? PlanKind.TooLarge : PlanKind.Fetch, entry);

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
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidPageToken, "page_token", "The page token is not one this server issued for this listing.");
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Streaming {Count} of {Total} messages of mailbox {MailboxId}")]
    private static partial void LogStreaming(ILogger logger, string mailboxId, int count, int total);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted {Deleted} messages of mailbox {MailboxId} ({Missing} already gone)")]
    private static partial void LogDeleted(ILogger logger, string mailboxId, int deleted, int missing);
}
