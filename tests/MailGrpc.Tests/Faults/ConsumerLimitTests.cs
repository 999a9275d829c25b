using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Messages;
using MailGrpc.Server.Storage;
using Microsoft.Extensions.Options;

namespace MailGrpc.Tests.Faults;

/// <summary>
/// A mailbox's consumers are bounded (<c>MailGrpc:Pop3:MaxConsumersPerMailbox</c>): a new consumer past the limit is
/// refused with CONSUMER_LIMIT_REACHED and records nothing, existing ones go on, and forgetting one (DeleteConsumer) frees
/// its place and removes its ledger. On the embedded store, without the rig (the gRPC path: <see cref="ConsumerLimitRigTests"/>).
/// </summary>
[Trait("Layer", "Fast")]
public sealed class ConsumerLimitTests
{
    private const string Tenant = "t";
    private const string Mailbox = "mbx-1";

    private static async Task<(ConsumerLedger Ledger, IStateStore Store)> LedgerAsync(int max)
    {
        var store = new InMemoryStateStore(TimeProvider.System);
        await store.SetAddAsync(StoreKeys.ListedUids(Tenant, Mailbox), ["u1", "u2"], CancellationToken.None);
        return (new ConsumerLedger(store, Options.Create(new Pop3Options { MaxConsumersPerMailbox = max })), store);
    }

    [Fact]
    public async Task A_new_consumer_past_the_limit_is_refused_with_a_reason_and_records_nothing()
    {
        var (ledger, store) = await LedgerAsync(max: 2);
        await ledger.RecordAsync(Tenant, Mailbox, "c1", ["u1"], CancellationToken.None);
        await ledger.RecordAsync(Tenant, Mailbox, "c2", ["u1"], CancellationToken.None);

        var refused = await Assert.ThrowsAsync<MailGrpcException>(() => ledger.RecordAsync(Tenant, Mailbox, "c3", ["u1"], CancellationToken.None));
        Assert.Equal(ErrorReasons.ConsumerLimitReached, refused.Reason);
        Assert.Equal(ErrorKind.ResourceExhausted, refused.Kind);
        Assert.Equal("2", refused.Metadata["limit"]);
        Assert.Null(await store.GetAsync(StoreKeys.Ledger(Tenant, Mailbox, "c3"), CancellationToken.None));
        Assert.Empty(await store.SetMembersAsync(StoreKeys.Ledger(Tenant, Mailbox, "c3"), CancellationToken.None));
        Assert.Equal(["c1", "c2"], (await store.SetMembersAsync(StoreKeys.Consumers(Tenant, Mailbox), CancellationToken.None)).Order(StringComparer.Ordinal));

        // Existing consumers are not affected.
        var (recorded, _) = await ledger.RecordAsync(Tenant, Mailbox, "c2", ["u2"], CancellationToken.None);
        Assert.Equal(["u2"], recorded);

        // Acknowledging only uids the server never listed registers no consumer, so it cannot be refused either.
        var (none, unknown) = await ledger.RecordAsync(Tenant, Mailbox, "c4", ["never-listed"], CancellationToken.None);
        Assert.Empty(none);
        Assert.Equal(["never-listed"], unknown);
    }

    [Fact]
    public async Task Forgetting_a_consumer_removes_its_ledger_and_frees_its_place()
    {
        var (ledger, store) = await LedgerAsync(max: 2);
        await ledger.RecordAsync(Tenant, Mailbox, "c1", ["u1", "u2"], CancellationToken.None);
        await ledger.RecordAsync(Tenant, Mailbox, "c2", ["u1"], CancellationToken.None);

        Assert.True(await ledger.ForgetAsync(Tenant, Mailbox, "c1", CancellationToken.None));
        Assert.Empty(await store.SetMembersAsync(StoreKeys.Ledger(Tenant, Mailbox, "c1"), CancellationToken.None));
        Assert.Equal(["c2"], await store.SetMembersAsync(StoreKeys.Consumers(Tenant, Mailbox), CancellationToken.None));
        var stillAcknowledged = await ledger.ContainsAsync(Tenant, Mailbox, "c1", ["u1", "u2"], CancellationToken.None);
        Assert.All(stillAcknowledged, Assert.False);

        // Idempotent; and the freed place takes a new consumer.
        Assert.False(await ledger.ForgetAsync(Tenant, Mailbox, "c1", CancellationToken.None));
        var (recorded, _) = await ledger.RecordAsync(Tenant, Mailbox, "c3", ["u1"], CancellationToken.None);
        Assert.Equal(["u1"], recorded);
    }

    [Fact]
    public void The_limit_is_validated_at_start()
    {
        Assert.Contains(new Pop3Options { MaxConsumersPerMailbox = 0 }.Validate(), e => e.Contains("MaxConsumersPerMailbox", StringComparison.Ordinal));
        Assert.DoesNotContain(new Pop3Options().Validate(), e => e.Contains("MaxConsumersPerMailbox", StringComparison.Ordinal));
    }
}
