using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// MessageService end to end over gRPC against the rig's Dovecot (POP3 side only: credentials from a dictionary). Each
/// test seeds its own user's Maildir.
/// </summary>
[Collection("pop3")]
public sealed class MessageServiceTests(Pop3Rig rig) : IAsyncDisposable
{
    private readonly MessagesHost _host = new(rig, new Dictionary<string, string?>
    {
        ["MailGrpc:Pop3:MaxMessageSize"] = (40 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["MailGrpc:Pop3:MemoryBudgetBytes"] = (64 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
    });

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private async Task<(string MailboxId, string User, List<byte[]> Messages)> MailboxAsync(int count, int size, Security security = Security.ImplicitTls, Func<int, byte[]>? make = null)
    {
        var user = Pop3Rig.NewUser("msg");
        var password = rig.AddPasswordUser(user);
        var messages = Enumerable.Range(0, count).Select(i => make?.Invoke(i) ?? Pop3Rig.MakeMessage(i, size)).ToList();
        await rig.SeedAsync(user, messages);
        var id = await _host.CreateActiveMailboxAsync(user, security, security == Security.ImplicitTls ? rig.Pop3sPort : rig.Pop3Port);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);
        return (id, user, messages);
    }

    private async Task<List<StreamedMessage>> StreamAsync(StreamMessagesRequest request, int stopAfter = int.MaxValue, CancellationTokenSource? cancel = null)
    {
        using var call = _host.Messages.StreamMessages(request, cancellationToken: cancel?.Token ?? default);
        return await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame, stopAfter);
    }

    [Fact]
    public async Task A_thousand_messages_stream_with_the_sha256_of_the_bytes_the_server_sent()
    {
        var (id, _, seeded) = await MailboxAsync(1000, 50_000);
        var expected = seeded.Select(Pop3Rig.Sha256).ToHashSet();

        var streamed = await StreamAsync(new StreamMessagesRequest { MailboxId = id });

        Assert.Equal(1000, streamed.Count);
        Assert.Equal(1000, streamed.Select(m => m.Uid).Distinct().Count());
        foreach (var m in streamed)
        {
            Assert.NotNull(m.End);
            Assert.Equal(m.ActualSha256, m.End.Sha256);
            Assert.Equal(m.Data.Length, m.End.Size);
            Assert.Equal(m.Summary.Size, m.End.Size);
            Assert.Contains(m.End.Sha256, expected);
        }

        // Server order is delivery order; the envelope comes from MimeKit.
        Assert.Equal("Message 0", streamed[0].Summary.Envelope.Subject);
        Assert.Equal("m999@example.org", streamed[^1].Summary.Envelope.MessageId);
        Assert.Equal("sender@example.org", streamed[0].Summary.Envelope.From[0].Address_);
        var attachment = Assert.Single(streamed[0].Summary.Envelope.Attachments);
        Assert.Equal("doc.pdf", attachment.FileName);
        Assert.Equal("application/pdf", attachment.ContentType);
    }

    [Fact]
    public async Task A_30_mb_message_streams_in_chunks_with_the_right_sha256()
    {
        var (id, _, seeded) = await MailboxAsync(1, 30 * 1024 * 1024);
        var streamed = Assert.Single(await StreamAsync(new StreamMessagesRequest { MailboxId = id }));
        Assert.Equal(Pop3Rig.Sha256(seeded[0]), streamed.End!.Sha256);
        Assert.Equal(Pop3Rig.Sha256(seeded[0]), streamed.ActualSha256);
        Assert.Equal(seeded[0].Length, streamed.End.Size);
    }

    [Fact]
    public async Task Cancel_after_100_acknowledge_and_resume_gets_exactly_the_other_900_and_deletes_nothing()
    {
        var (id, user, _) = await MailboxAsync(1000, 2_000);
        using var cancel = new CancellationTokenSource();
        List<StreamedMessage> first;
        using (var call = _host.Messages.StreamMessages(new StreamMessagesRequest { MailboxId = id, Consumer = "archiver" }, cancellationToken: cancel.Token))
        {
            first = await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame, stopAfter: 100);
            await cancel.CancelAsync();
        }

        var complete = first.Where(m => m.End is not null && m.End.Sha256 == m.ActualSha256).Select(m => m.Uid).ToList();
        Assert.Equal(100, complete.Count);
        await _host.Messages.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "archiver", Uids = { complete } });

        var rest = await StreamAsync(new StreamMessagesRequest { MailboxId = id, Consumer = "archiver", OnlyUnacknowledged = true });
        Assert.Equal(900, rest.Count);
        Assert.Empty(rest.Select(m => m.Uid).Intersect(complete));
        Assert.Equal(1000, complete.Concat(rest.Select(m => m.Uid)).Distinct().Count());
        Assert.Equal(1000, rig.MessageFiles(user).Count);

        // Another consumer has its own ledger.
        var other = await StreamAsync(new StreamMessagesRequest { MailboxId = id, Consumer = "indexer", OnlyUnacknowledged = true, View = MessageView.Headers, MaxMessages = 5 });
        Assert.Equal(5, other.Count);
        Assert.All(other, m => Assert.Equal(0, m.End!.Size));
    }

    [Fact]
    public async Task Acknowledge_with_delete_removes_exactly_those_messages_and_repeating_changes_nothing()
    {
        var (id, user, _) = await MailboxAsync(10, 3_000);
        var listed = await _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id });
        var chosen = listed.Messages.Where((_, i) => i % 3 == 0).Select(m => m.Uid).ToList(); // 4 of 10
        var filesBefore = rig.MessageFiles(user).Select(Path.GetFileName).ToHashSet();

        var reply = await _host.Messages.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c1", Uids = { chosen }, Delete = true });
        Assert.Equal(chosen, reply.AcknowledgedUids);
        Assert.Equal(chosen, reply.DeletedUids);
        Assert.Empty(reply.MissingUids);
        Assert.Equal(6, rig.MessageFiles(user).Count);
        var after = await _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id });
        Assert.Equal(listed.Messages.Select(m => m.Uid).Except(chosen), after.Messages.Select(m => m.Uid));

        var again = await _host.Messages.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c1", Uids = { chosen }, Delete = true });
        Assert.Empty(again.DeletedUids);
        Assert.Equal(chosen, again.MissingUids);
        Assert.Equal(6, rig.MessageFiles(user).Count);

        var deleted = await _host.Messages.DeleteMessagesAsync(new DeleteMessagesRequest { MailboxId = id, Uids = { after.Messages[0].Uid, "NOPE" } });
        Assert.Equal([after.Messages[0].Uid], deleted.DeletedUids);
        Assert.Equal(["NOPE"], deleted.MissingUids);
        Assert.Equal(5, rig.MessageFiles(user).Count);
        Assert.True(filesBefore.Count == 10);
    }

    [Fact]
    public async Task Acknowledge_records_only_uids_the_server_listed_and_ledgers_forget_vanished_uids()
    {
        var (id, user, _) = await MailboxAsync(5, 2_000);
        var ledgerKey = $"mailgrpc:{{mbx:{_host.Tenant.Name}:{id}}}:ack:c1";
        var redis = TestRedis.Connection.GetDatabase();

        // 10,000 uids that were never on the server: none recorded, all answered as missing, in request order.
        var madeUp = Enumerable.Range(0, 10_000).Select(i => "forged-" + i).ToList();
        var forged = await _host.Messages.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c1", Uids = { madeUp } });
        Assert.Empty(forged.AcknowledgedUids);
        Assert.Equal(madeUp, forged.MissingUids);
        Assert.Equal(0, await redis.SetLengthAsync(ledgerKey));

        // Listed uids are recorded; a mixed call records only those.
        var listed = (await _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id })).Messages.Select(m => m.Uid).ToList();
        var mixed = await _host.Messages.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c1", Uids = { listed[0], "forged-x", listed[1] } });
        Assert.Equal([listed[0], listed[1]], mixed.AcknowledgedUids);
        Assert.Equal(["forged-x"], mixed.MissingUids);
        Assert.Equal(2, await redis.SetLengthAsync(ledgerKey));

        // A message removed behind the ledger's back (another POP3 client, straight from the Maildir) leaves the ledger
        // at the next listing.
        await _host.Messages.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c1", Uids = { listed } });
        Assert.Equal(5, await redis.SetLengthAsync(ledgerKey));
        File.Delete(rig.MessageFiles(user)[0]);
        var after = await _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id, Consumer = "c1" });
        Assert.Equal(4, after.Messages.Count);
        Assert.All(after.Messages, m => Assert.True(m.Acknowledged));
        Assert.Equal(after.Messages.Select(m => m.Uid).Order(), (await redis.SetMembersAsync(ledgerKey)).Select(v => v.ToString()).Order());

        // Deleting through MailGrpc cleans the ledger too.
        await _host.Messages.DeleteMessagesAsync(new DeleteMessagesRequest { MailboxId = id, Uids = { after.Messages[0].Uid } });
        Assert.Equal(3, await redis.SetLengthAsync(ledgerKey));
    }

    [Fact]
    public async Task List_pages_with_tokens_headers_and_acknowledged_flags()
    {
        var (id, _, seeded) = await MailboxAsync(7, 1_500);
        await _host.Messages.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c", Uids = { (await _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id, PageSize = 1 })).Messages[0].Uid } });
        var uids = new List<string>();
        var token = "";
        var pages = 0;
        do
        {
            var page = await _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id, PageSize = 3, PageToken = token, IncludeHeaders = true, Consumer = "c" });
            Assert.Equal(7, page.TotalCount);
            Assert.Equal(seeded.Sum(m => m.Length), page.TotalSize);
            Assert.All(page.Messages, m => Assert.StartsWith("Message ", m.Envelope.Subject, StringComparison.Ordinal));
            Assert.Equal(pages == 0, page.Messages[0].Acknowledged);
            uids.AddRange(page.Messages.Select(m => m.Uid));
            token = page.NextPageToken;
            pages++;
        }
        while (token.Length > 0);

        Assert.Equal(3, pages);
        Assert.Equal(7, uids.Distinct().Count());
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_PAGE_TOKEN", async () => await _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id, PageToken = "bogus" }));
    }

    [Fact]
    public async Task Too_large_and_missing_messages_get_skipped_frames_and_get_message_works_by_uid()
    {
        await using var host = new MessagesHost(rig, new Dictionary<string, string?> { ["MailGrpc:Pop3:MaxMessageSize"] = "100000" });
        var user = Pop3Rig.NewUser("big");
        var password = rig.AddPasswordUser(user);
        var seeded = new[] { Pop3Rig.MakeMessage(0, 5_000), Pop3Rig.MakeMessage(1, 200_000, "Too big"), Pop3Rig.MakeMessage(2, 5_000) };
        await rig.SeedAsync(user, seeded);
        var id = await host.CreateActiveMailboxAsync(user, Security.ImplicitTls, rig.Pop3sPort);
        host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);

        using var call = host.Messages.StreamMessages(new StreamMessagesRequest { MailboxId = id });
        var all = await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame);
        Assert.Equal(3, all.Count);
        Assert.Equal("MESSAGE_TOO_LARGE", all[1].Skipped!.Reason);
        Assert.Equal("Too big", all[1].Summary.Envelope.Subject);
        Assert.Equal(0, all[1].Data.Length);
        Assert.Equal(Pop3Rig.Sha256(seeded[2]), all[2].End!.Sha256);

        using var byUid = host.Messages.StreamMessages(new StreamMessagesRequest { MailboxId = id, Uids = { all[2].Uid, "GONE", all[0].Uid } });
        var chosen = await StreamedMessage.ReadAsync(byUid.ResponseStream, r => r.Frame);
        Assert.Equal([all[2].Uid, "GONE", all[0].Uid], chosen.Select(m => m.Uid));
        Assert.Equal("MESSAGE_NOT_FOUND", chosen[1].Skipped!.Reason);

        using var get = host.Messages.GetMessage(new GetMessageRequest { MailboxId = id, Uid = all[0].Uid });
        var one = Assert.Single(await StreamedMessage.ReadAsync(get.ResponseStream, r => r.Frame));
        Assert.Equal(Pop3Rig.Sha256(seeded[0]), one.ActualSha256);

        await RpcAssert.FailsAsync(StatusCode.NotFound, "MESSAGE_NOT_FOUND", async () =>
        {
            using var missing = host.Messages.GetMessage(new GetMessageRequest { MailboxId = id, Uid = "GONE" });
            await missing.ResponseStream.MoveNext();
        });
    }

    [Fact]
    public async Task Bad_requests_get_precise_statuses_and_inactive_mailboxes_are_not_read()
    {
        var (id, _, _) = await MailboxAsync(1, 1_000);
        var m = _host.Messages;
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_CONSUMER", async () => await m.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "bad name", Uids = { "a" } }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_UID", async () => await m.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = "c", Uids = { "has space" } }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_UIDS", async () => await m.DeleteMessagesAsync(new DeleteMessagesRequest { MailboxId = id }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_UIDS", async () => await m.DeleteMessagesAsync(new DeleteMessagesRequest { MailboxId = id, Uids = { Enumerable.Range(0, 10_001).Select(i => "u" + i) } }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_CONSUMER", () => StreamAsync(new StreamMessagesRequest { MailboxId = id, OnlyUnacknowledged = true }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_VIEW", () => StreamAsync(new StreamMessagesRequest { MailboxId = id, View = (MessageView)7 }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_LIMIT", () => StreamAsync(new StreamMessagesRequest { MailboxId = id, MaxMessages = -1 }));
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_MAILBOX_ID", () => StreamAsync(new StreamMessagesRequest { MailboxId = "Bad}" }));
        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", () => StreamAsync(new StreamMessagesRequest { MailboxId = "nope-" + Guid.NewGuid().ToString("N")[..6] }));

        await _host.SetStateAsync(id, MailGrpc.Server.Mailboxes.MailboxState.Disabled);
        var ex = await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "MAILBOX_NOT_ACTIVE", () => StreamAsync(new StreamMessagesRequest { MailboxId = id }));
        Assert.Contains("disabled", ex.Status.Detail, StringComparison.OrdinalIgnoreCase);
        await RpcAssert.FailsAsync(StatusCode.FailedPrecondition, "MAILBOX_NOT_ACTIVE", async () => await m.DeleteMessagesAsync(new DeleteMessagesRequest { MailboxId = id, Uids = { "a" } }));
        Assert.Equal(0, _host.Credentials.Gets); // nothing was ever fetched for a refused request
    }

    [Fact]
    public async Task A_connection_cut_mid_stream_is_unavailable_and_loses_nothing()
    {
        await using var proxy = new CuttingProxy(rig.Pop3Port, cutAfterBytes: 400_000);
        var user = Pop3Rig.NewUser("cut");
        var password = rig.AddPasswordUser(user);
        var seeded = Enumerable.Range(0, 40).Select(i => Pop3Rig.MakeMessage(i, 50_000)).ToList();
        await rig.SeedAsync(user, seeded);
        var id = await _host.CreateActiveMailboxAsync(user, Security.None, proxy.Port);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);

        var received = new List<StreamedMessage>();
        var ex = await RpcAssert.FailsAsync(StatusCode.Unavailable, "POP3_CONNECTION_LOST", async () =>
        {
            using var call = _host.Messages.StreamMessages(new StreamMessagesRequest { MailboxId = id, Consumer = "c" });
            received.AddRange(await StreamedMessage.ReadAsync(call.ResponseStream, r => r.Frame));
        });
        Assert.Equal(1, proxy.Cuts);
        Assert.Equal(40, rig.MessageFiles(user).Count);

        proxy.CutAfterBytes = null;
        var rest = await StreamAsync(new StreamMessagesRequest { MailboxId = id, Consumer = "c", OnlyUnacknowledged = true });
        Assert.Equal(seeded.Select(Pop3Rig.Sha256).ToHashSet(), rest.Select(m => m.End!.Sha256).ToHashSet());
        Assert.NotNull(ex);
    }
}
