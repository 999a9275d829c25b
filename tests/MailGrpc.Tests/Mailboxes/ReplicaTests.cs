using Grpc.Core;
using Grpc.Health.V1;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Mailboxes;

/// <summary>Real server processes: replicas sharing one Redis, and start-up refusals.</summary>
public sealed class ReplicaTests
{
    private static Dictionary<string, string?> Settings(params TestTenant[] tenants)
    {
        var settings = MailGrpcTestHost.ApiKeySettings(tenants);
        settings["MailGrpc:Redis:Configuration"] = TestRedis.Configuration;
        settings["MailGrpc:Encryption:Keys:k1"] = RegistryHosts.EncryptionKey;
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        return settings;
    }

    [Fact]
    public async Task Two_server_processes_sharing_one_redis_see_each_others_mailboxes()
    {
        var tenant = TestTenant.Create("replica");
        await using var first = await ServerProcess.StartAsync(Settings(tenant));
        await using var second = await ServerProcess.StartAsync(Settings(tenant));

        var onFirst = (await first.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest { Mailbox = MailboxApiTests.PasswordMailbox() })).Mailbox;
        var onSecond = (await second.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest { Mailbox = MailboxApiTests.PasswordMailbox("bob@example.com") })).Mailbox;

        Assert.Equal(onFirst, (await second.Mailboxes(tenant.ApiKey).GetMailboxAsync(new GetMailboxRequest { MailboxId = onFirst.MailboxId })).Mailbox);
        Assert.Equal(onSecond, (await first.Mailboxes(tenant.ApiKey).GetMailboxAsync(new GetMailboxRequest { MailboxId = onSecond.MailboxId })).Mailbox);
        var listed = await first.Mailboxes(tenant.ApiKey).ListMailboxesAsync(new ListMailboxesRequest());
        Assert.Equal(new[] { onFirst.MailboxId, onSecond.MailboxId }.Order(StringComparer.Ordinal), listed.Mailboxes.Select(m => m.MailboxId));

        // An etag read on one replica protects against a change made through the other.
        var stale = onFirst.Etag;
        await second.Mailboxes(tenant.ApiKey).UpdateMailboxAsync(new UpdateMailboxRequest
        {
            Mailbox = new Mailbox { MailboxId = onFirst.MailboxId, DisplayName = "changed on second" },
            UpdateMask = Google.Protobuf.WellKnownTypes.FieldMask.FromString("display_name"),
        });
        await RpcAssert.FailsAsync(StatusCode.Aborted, "ETAG_MISMATCH", async () => await first.Mailboxes(tenant.ApiKey).DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = onFirst.MailboxId, Etag = stale }));

        var health = await new Health.HealthClient(second.Channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    [Fact]
    public async Task Health_reports_not_serving_while_redis_is_unreachable()
    {
        var settings = Settings(TestTenant.Create());
        settings["MailGrpc:Redis:Configuration"] = "127.0.0.1:1,connectTimeout=200";
        var start = ServerProcess.StartAsync(settings, TimeSpan.FromSeconds(8));

        // StartAsync waits for SERVING, which never comes.
        var ex = await Assert.ThrowsAsync<TimeoutException>(async () => await (await start).DisposeAsync());
        Assert.Contains("did not become SERVING", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Anonymous_mode_is_refused_on_a_non_loopback_address()
    {
        var settings = Settings();
        settings["Kestrel:Endpoints:Grpc:Url"] = "http://0.0.0.0:0";
        var ex = await Assert.ThrowsAnyAsync<Exception>(async () => await (await ServerProcess.StartAsync(settings)).DisposeAsync());
        Assert.Contains("refusing to serve anonymous callers", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Anonymous_callers_are_served_on_loopback_when_no_keys_are_configured()
    {
        await using var server = await ServerProcess.StartAsync(Settings());
        var created = (await server.Mailboxes(apiKey: null).CreateMailboxAsync(new CreateMailboxRequest { Mailbox = MailboxApiTests.PasswordMailbox() })).Mailbox;
        Assert.NotEmpty(created.MailboxId);
        Assert.Contains("anonymous callers are accepted", server.Output, StringComparison.Ordinal);
        await server.Mailboxes(apiKey: null).DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = created.MailboxId });
    }

    [Fact]
    public async Task Invalid_configuration_stops_the_server_at_start_with_a_clear_message()
    {
        var settings = Settings();
        settings["MailGrpc:ApiKeys:0:Tenant"] = "has space";
        settings["MailGrpc:ApiKeys:0:KeyHash"] = "not-a-hash";
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await (await ServerProcess.StartAsync(settings)).DisposeAsync());
        Assert.Contains("MailGrpc:ApiKeys:0:KeyHash must be the 64-character hex SHA-256", ex.Message, StringComparison.Ordinal);
        Assert.Contains("MailGrpc:ApiKeys:0:Tenant", ex.Message, StringComparison.Ordinal);
    }
}
