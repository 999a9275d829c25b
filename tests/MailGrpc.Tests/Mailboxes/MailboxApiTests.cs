using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Mailboxes;

public sealed class MailboxApiTests(RegistryHosts hosts) : IClassFixture<RegistryHosts>
{
    public static TheoryData<StoreKind> Stores => StoreKinds.All;

    // 203.0.113.0/24 is a documentation range: public to the SSRF guard, needs no DNS, and nothing connects to it here.
    internal const string PublicHost = "203.0.113.10";

    internal static Mailbox PasswordMailbox(string username = "alice@example.com", string host = PublicHost) => new()
    {
        Username = username,
        DisplayName = "Alice",
        Server = new ServerSettings { Host = host, Security = Security.ImplicitTls },
        AuthMethod = new AuthMethod { Password = new PasswordAuth() },
    };

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Create_get_update_with_etags_delete(StoreKind kind)
    {
        var client = hosts.Host(kind).Mailboxes(hosts.A.ApiKey);
        var id = "crud-" + Guid.NewGuid().ToString("N")[..8];

        var created = (await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = PasswordMailbox() })).Mailbox;
        Assert.Equal(id, created.MailboxId);
        Assert.Equal(MailboxState.PendingAuthorization, created.State);
        Assert.Equal(995, created.Server.Port);
        Assert.Equal(Provider.Generic, created.Provider);
        Assert.NotEmpty(created.Etag);
        Assert.NotNull(created.CreateTime);

        var read = (await client.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox;
        Assert.Equal(created, read);

        // The same request again is a retry (its reply may have been lost): OK, the same mailbox. Another one is refused.
        Assert.Equal(created, (await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = PasswordMailbox() })).Mailbox);
        await RpcAssert.FailsAsync(StatusCode.AlreadyExists, "MAILBOX_ALREADY_EXISTS",
            async () => await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = PasswordMailbox("mallory@example.com") }));

        var update = new UpdateMailboxRequest
        {
            Mailbox = new Mailbox { MailboxId = id, DisplayName = "Alice Liddell", Etag = read.Etag, Server = new ServerSettings { Port = 1995 } },
            UpdateMask = FieldMask.FromString("display_name,server.port"),
        };
        var updated = (await client.UpdateMailboxAsync(update)).Mailbox;
        Assert.Equal("Alice Liddell", updated.DisplayName);
        Assert.Equal(1995, updated.Server.Port);
        Assert.Equal(PublicHost, updated.Server.Host);
        Assert.NotEqual(read.Etag, updated.Etag);

        // The etag read before the update is stale now.
        await RpcAssert.FailsAsync(StatusCode.Aborted, "ETAG_MISMATCH", async () => await client.UpdateMailboxAsync(update));
        await RpcAssert.FailsAsync(StatusCode.Aborted, "ETAG_MISMATCH",
            async () => await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id, Etag = read.Etag }));
        Assert.Equal("Alice Liddell", (await client.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox.DisplayName);

        await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id, Etag = updated.Etag });
        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await client.GetMailboxAsync(new GetMailboxRequest { MailboxId = id }));

        // Deleting it again answers OK while its tombstone lasts: a retry whose first reply was lost must not see NOT_FOUND.
        await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id });
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Lists_250_mailboxes_in_pages_of_100(StoreKind kind)
    {
        var client = hosts.Host(kind).Mailboxes(hosts.Lister.ApiKey);
        var ids = Enumerable.Range(0, 250).Select(i => $"list-{kind.ToString().ToLowerInvariant()}-{i:D3}").ToArray();
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (id, ct) =>
            await client.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = PasswordMailbox($"{id}@example.com") }, cancellationToken: ct));

        var seen = new List<string>();
        var pages = new List<int>();
        var token = string.Empty;
        do
        {
            var page = await client.ListMailboxesAsync(new ListMailboxesRequest { PageSize = 100, PageToken = token });
            pages.Add(page.Mailboxes.Count);
            seen.AddRange(page.Mailboxes.Select(m => m.MailboxId));
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        var mine = seen.Where(id => id.StartsWith($"list-{kind.ToString().ToLowerInvariant()}-", StringComparison.Ordinal)).ToArray();
        Assert.Equal([100, 100, 50], pages);
        Assert.Equal(ids, mine);
        Assert.Equal(seen.Count, seen.Distinct().Count());

        // Another tenant sees none of them.
        var other = await hosts.Host(kind).Mailboxes(hosts.B.ApiKey).ListMailboxesAsync(new ListMailboxesRequest { PageSize = 1000 });
        Assert.DoesNotContain(other.Mailboxes, m => m.MailboxId.StartsWith("list-", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Tenants_are_isolated(StoreKind kind)
    {
        var host = hosts.Host(kind);
        var a = host.Mailboxes(hosts.A.ApiKey);
        var b = host.Mailboxes(hosts.B.ApiKey);
        var id = "iso-" + Guid.NewGuid().ToString("N")[..8];
        var created = (await a.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = PasswordMailbox() })).Mailbox;

        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await b.GetMailboxAsync(new GetMailboxRequest { MailboxId = id }));
        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await b.UpdateMailboxAsync(new UpdateMailboxRequest
        {
            Mailbox = new Mailbox { MailboxId = id, DisplayName = "taken over" },
            UpdateMask = FieldMask.FromString("display_name"),
        }));
        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await b.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = id }));

        // The same id is free in tenant B: ids are per tenant.
        var twin = (await b.CreateMailboxAsync(new CreateMailboxRequest { MailboxId = id, Mailbox = PasswordMailbox("bob@example.com") })).Mailbox;
        Assert.Equal("bob@example.com", twin.Username);
        Assert.Equal(created, (await a.GetMailboxAsync(new GetMailboxRequest { MailboxId = id })).Mailbox);

        // A page token issued to A is refused for B.
        for (var i = 0; i < 2; i++)
        {
            await a.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = PasswordMailbox() });
        }

        var pageA = await a.ListMailboxesAsync(new ListMailboxesRequest { PageSize = 1 });
        Assert.NotEmpty(pageA.NextPageToken);
        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_PAGE_TOKEN",
            async () => await b.ListMailboxesAsync(new ListMailboxesRequest { PageSize = 1, PageToken = pageA.NextPageToken }));
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Provider_presets_fill_in_the_server(StoreKind kind)
    {
        var client = hosts.Host(kind).Mailboxes(hosts.A.ApiKey);
        var microsoft = (await client.CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = new Mailbox { Username = "ops@contoso.com", AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "m365" } } },
        })).Mailbox;
        Assert.Equal(Provider.Microsoft, microsoft.Provider);
        Assert.Equal(("outlook.office365.com", 995, Security.ImplicitTls), (microsoft.Server.Host, microsoft.Server.Port, microsoft.Server.Security));
        Assert.Equal(SaslMechanism.Xoauth2, microsoft.AuthMethod.Oauth.Mechanism);

        var google = (await client.CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = new Mailbox { Username = "me@gmail.com", Provider = Provider.Google, AuthMethod = new AuthMethod { Password = new PasswordAuth() } },
        })).Mailbox;
        Assert.Equal(("pop.gmail.com", 995, Security.ImplicitTls), (google.Server.Host, google.Server.Port, google.Server.Security));

        var starttls = (await client.CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = new Mailbox
            {
                Username = "x@corp.example",
                Server = new ServerSettings { Host = "Pop.Corp.Example", Security = Security.Starttls },
                AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "corp", Mechanism = SaslMechanism.Oauthbearer } },
            },
        })).Mailbox;
        Assert.Equal(("pop.corp.example", 110, Security.Starttls), (starttls.Server.Host, starttls.Server.Port, starttls.Server.Security));
        Assert.Equal(Provider.Generic, starttls.Provider);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Disabling_and_enabling_a_mailbox(StoreKind kind)
    {
        var client = hosts.Host(kind).Mailboxes(hosts.A.ApiKey);
        var created = (await client.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = PasswordMailbox() })).Mailbox;
        var disabled = (await client.UpdateMailboxAsync(new UpdateMailboxRequest
        {
            Mailbox = new Mailbox { MailboxId = created.MailboxId, State = MailboxState.Disabled },
            UpdateMask = FieldMask.FromString("state"),
        })).Mailbox;
        Assert.Equal(MailboxState.Disabled, disabled.State);

        await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_STATE_TRANSITION", async () => await client.UpdateMailboxAsync(new UpdateMailboxRequest
        {
            Mailbox = new Mailbox { MailboxId = created.MailboxId, State = MailboxState.ReauthorizationRequired },
            UpdateMask = FieldMask.FromString("state"),
        }));

        // No credential is stored, so enabling returns it to waiting for authorization.
        var enabled = (await client.UpdateMailboxAsync(new UpdateMailboxRequest
        {
            Mailbox = new Mailbox { MailboxId = created.MailboxId, State = MailboxState.Active },
            UpdateMask = FieldMask.FromString("state"),
        })).Mailbox;
        Assert.Equal(MailboxState.PendingAuthorization, enabled.State);
    }

    [Fact]
    public async Task Delete_removes_every_key_of_the_mailbox_from_redis_but_an_expiring_tombstone()
    {
        var client = hosts.Redis.Mailboxes(hosts.A.ApiKey);
        var created = (await client.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = PasswordMailbox() })).Mailbox;
        var tag = $"{{mbx:{hosts.A.Name}:{created.MailboxId}}}";
        Assert.NotEmpty(TestRedis.KeysContaining(tag));

        await client.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = created.MailboxId });

        // Only the expiring tombstone, holding nothing of the mailbox, stays on its own key.
        Assert.Equal([$"mailgrpc:{tag}:mailbox"], TestRedis.KeysContaining(tag));
        await Faults.CrashSafeRegistryTests.AssertOnlyTombstoneLeftAsync(hosts.Redis, hosts.A.Name, created.MailboxId);
    }

    [Fact]
    public async Task A_host_name_that_does_not_resolve_is_accepted_and_checked_again_at_connect()
    {
        var client = hosts.Embedded.Mailboxes(hosts.A.ApiKey);
        var created = (await client.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = PasswordMailbox(host: "pop.does-not-exist.invalid") })).Mailbox;
        Assert.Equal("pop.does-not-exist.invalid", created.Server.Host);
    }

    [Theory]
    [InlineData("Pop.Example.COM.", "pop.example.com")]
    [InlineData("pop.bücher.example", "pop.xn--bcher-kva.example")]
    [InlineData("POP.XN--BCHER-KVA.EXAMPLE", "pop.xn--bcher-kva.example")]
    public async Task Hosts_are_stored_in_one_normalized_spelling(string given, string stored)
    {
        var client = hosts.Embedded.Mailboxes(hosts.A.ApiKey);
        var created = (await client.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = PasswordMailbox(host: given) })).Mailbox;
        Assert.Equal(stored, created.Server.Host);
    }
}
