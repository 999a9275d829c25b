using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;

namespace MailGrpc.Tests.Faults;

/// <summary>
/// The consumer limit and DeleteConsumer over gRPC, on the rig's Redis and Dovecot: the refused consumer gets
/// RESOURCE_EXHAUSTED CONSUMER_LIMIT_REACHED and no ledger key, DeleteConsumer removes the ledger key and frees the place.
/// </summary>
[Collection("pop3")]
public sealed class ConsumerLimitRigTests(Pop3Rig rig) : IAsyncDisposable
{
    private readonly MessagesHost _host = new(rig, new Dictionary<string, string?> { ["MailGrpc:Pop3:MaxConsumersPerMailbox"] = "2" });

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    [Fact]
    public async Task A_third_consumer_is_refused_until_DeleteConsumer_forgets_one()
    {
        var user = Pop3Rig.NewUser("consumers");
        var password = rig.AddPasswordUser(user);
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(0, 1_000), Pop3Rig.MakeMessage(1, 1_000)]);
        var id = await _host.CreateActiveMailboxAsync(user, Security.ImplicitTls, rig.Pop3sPort);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);
        var uids = (await _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id })).Messages.Select(m => m.Uid).ToList();
        var redis = TestRedis.Connection.GetDatabase();
        string LedgerKey(string consumer) => $"mailgrpc:{{mbx:{_host.Tenant.Name}:{id}}}:ack:{consumer}";
        var consumersKey = $"mailgrpc:{{mbx:{_host.Tenant.Name}:{id}}}:consumers";

        Task<AcknowledgeMessagesResponse> AckAsync(string consumer) =>
            _host.Messages.AcknowledgeMessagesAsync(new AcknowledgeMessagesRequest { MailboxId = id, Consumer = consumer, Uids = { uids } }).ResponseAsync;

        Assert.Equal(uids, (await AckAsync("first")).AcknowledgedUids);
        Assert.Equal(uids, (await AckAsync("second")).AcknowledgedUids);
        var refused = await RpcAssert.FailsAsync(StatusCode.ResourceExhausted, "CONSUMER_LIMIT_REACHED", () => AckAsync("third"));
        Assert.Equal("2", refused.GetRpcStatus()?.GetDetail<Google.Rpc.ErrorInfo>()?.Metadata["limit"]);
        Assert.False(await redis.KeyExistsAsync(LedgerKey("third")));
        Assert.Equal(2, await redis.SetLengthAsync(consumersKey));

        // Existing consumers go on.
        Assert.Equal(uids, (await AckAsync("second")).AcknowledgedUids);

        var forgotten = await _host.Messages.DeleteConsumerAsync(new DeleteConsumerRequest { MailboxId = id, Consumer = "first" });
        Assert.True(forgotten.Forgotten);
        Assert.False(await redis.KeyExistsAsync(LedgerKey("first")));
        Assert.False(await redis.SetContainsAsync(consumersKey, "first"));
        Assert.False((await _host.Messages.DeleteConsumerAsync(new DeleteConsumerRequest { MailboxId = id, Consumer = "first" })).Forgotten);

        // The freed place takes the third consumer; a forgotten consumer sees nothing acknowledged.
        Assert.Equal(uids, (await AckAsync("third")).AcknowledgedUids);
        Assert.True(await redis.KeyExistsAsync(LedgerKey("third")));
        var asFirst = await _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id, Consumer = "first" });
        Assert.All(asFirst.Messages, m => Assert.False(m.Acknowledged));

        // Bad input and a missing mailbox get precise statuses.
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_CONSUMER", async () => await _host.Messages.DeleteConsumerAsync(new DeleteConsumerRequest { MailboxId = id, Consumer = "bad name" }));
        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await _host.Messages.DeleteConsumerAsync(new DeleteConsumerRequest { MailboxId = "mbx-nosuch", Consumer = "first" }));

        // Deleting the mailbox removes every ledger, the third consumer's too.
        await _host.Mailboxes.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id });
        Assert.False(await redis.KeyExistsAsync(LedgerKey("third")));
        Assert.False(await redis.KeyExistsAsync(consumersKey));
    }
}
