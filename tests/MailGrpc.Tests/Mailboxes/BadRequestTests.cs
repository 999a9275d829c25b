using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Mailboxes;

/// <summary>
/// Hostile and malformed requests: each gets its precise status and reason, and none writes anything — the
/// <see cref="RegistryHosts.Refused"/> tenant must own no mailbox and no Redis key afterwards.
/// </summary>
public sealed class BadRequestTests(RegistryHosts hosts) : IClassFixture<RegistryHosts>
{
    public sealed record BadRequest(string Name, StatusCode Code, string Reason, Func<MailboxService.MailboxServiceClient, Task> Call)
    {
        public override string ToString() => Name;
    }

    private static Mailbox Valid() => MailboxApiTests.PasswordMailbox();

    private static Func<MailboxService.MailboxServiceClient, Task> Create(Action<Mailbox> spoil, string mailboxId = "")
    {
        return async c =>
        {
            var mailbox = Valid();
            spoil(mailbox);
            await c.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = mailbox, MailboxId = mailboxId });
        };
    }

    public static readonly BadRequest[] Cases =
    [
        new("empty username", StatusCode.InvalidArgument, "INVALID_USERNAME", Create(m => m.Username = "")),
        new("1000-character username", StatusCode.InvalidArgument, "INVALID_USERNAME", Create(m => m.Username = new string('u', 1000))),
        new("username with white space", StatusCode.InvalidArgument, "INVALID_USERNAME", Create(m => m.Username = "a b@example.com")),
        new("username with a control character", StatusCode.InvalidArgument, "INVALID_USERNAME", Create(m => m.Username = "a\u0000@example.com")),
        new("port 0", StatusCode.InvalidArgument, "INVALID_PORT", Create(m => m.Server.Port = 0)),
        new("port 70000", StatusCode.InvalidArgument, "INVALID_PORT", Create(m => m.Server.Port = 70000)),
        new("negative port", StatusCode.InvalidArgument, "INVALID_PORT", Create(m => m.Server.Port = -1)),
        new("unknown security mode", StatusCode.InvalidArgument, "INVALID_SECURITY", Create(m => m.Server.Security = (Security)42)),
        new("unknown provider", StatusCode.InvalidArgument, "INVALID_PROVIDER", Create(m => m.Provider = (Provider)9)),
        new("host with a path", StatusCode.InvalidArgument, "INVALID_HOST", Create(m => m.Server.Host = "pop.example.com/evil")),
        new("host with a space", StatusCode.InvalidArgument, "INVALID_HOST", Create(m => m.Server.Host = "pop example.com")),
        new("no server and no preset", StatusCode.InvalidArgument, "SERVER_REQUIRED", Create(m => m.Server = null)),
        new("no auth method", StatusCode.InvalidArgument, "AUTH_METHOD_REQUIRED", Create(m => m.AuthMethod = null)),
        new("unknown OAuth client", StatusCode.InvalidArgument, "UNKNOWN_OAUTH_CLIENT", Create(m => m.AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "nope" } })),
        new("OAuth client of another provider", StatusCode.InvalidArgument, "INVALID_PROVIDER", Create(m => { m.Provider = Provider.Google; m.AuthMethod = new AuthMethod { Oauth = new OAuthAuth { Client = "m365" } }; })),
        new("201-character display name", StatusCode.InvalidArgument, "INVALID_DISPLAY_NAME", Create(m => m.DisplayName = new string('d', 201))),
        new("mailbox id with upper case", StatusCode.InvalidArgument, "INVALID_MAILBOX_ID", Create(_ => { }, "Inbox")),
        new("mailbox id with a hash-tag brace", StatusCode.InvalidArgument, "INVALID_MAILBOX_ID", Create(_ => { }, "a}b")),
        new("mailbox id of 64 characters", StatusCode.InvalidArgument, "INVALID_MAILBOX_ID", Create(_ => { }, "a" + new string('b', 63))),
        new("host 127.0.0.1", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "127.0.0.1")),
        new("host 10.0.0.1", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "10.0.0.1")),
        new("host 169.254.169.254 (cloud metadata)", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "169.254.169.254")),
        new("host 192.168.1.10", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "192.168.1.10")),
        new("host ::1", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "::1")),
        new("host localhost (resolves to loopback)", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "localhost")),
        new("host ::ffff:10.1.2.3 (mapped private)", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "::ffff:10.1.2.3")),
        // Normalized before the check: trailing dot, case, IDNA; metadata names refused by name, resolvable here or not.
        new("host 127.0.0.1. (trailing dot)", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "127.0.0.1.")),
        new("host LOCALHOST. (case, trailing dot)", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "LOCALHOST.")),
        new("host pop.localhost (RFC 6761)", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "pop.localhost")),
        new("host metadata.google.internal.", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "metadata.google.internal.")),
        new("host METADATA.Google.Internal", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "METADATA.Google.Internal")),
        new("host instance-data (AWS)", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "instance-data")),
        new("host ｌｏｃａｌｈｏｓｔ (full-width, IDNA maps it)", StatusCode.PermissionDenied, "HOST_NOT_ALLOWED", Create(m => m.Server.Host = "ｌｏｃａｌｈｏｓｔ")),
        new("host with two trailing dots", StatusCode.InvalidArgument, "INVALID_HOST", Create(m => m.Server.Host = "pop.example.com..")),
        new("DiagnoseMailbox with a 100,000-character id", StatusCode.InvalidArgument, "INVALID_MAILBOX_ID", async c => await c.DiagnoseMailboxAsync(new DiagnoseMailboxRequest { MailboxId = new string('x', 100_000) })),
        new("missing mailbox", StatusCode.InvalidArgument, "INVALID_ARGUMENT", async c => await c.CreateMailboxAsync(new CreateMailboxRequest())),
        new("garbage page token", StatusCode.InvalidArgument, "INVALID_PAGE_TOKEN", async c => await c.ListMailboxesAsync(new ListMailboxesRequest { PageToken = "garbage!!" })),
        new("forged page token", StatusCode.InvalidArgument, "INVALID_PAGE_TOKEN", async c => await c.ListMailboxesAsync(new ListMailboxesRequest { PageToken = "eyJWIjoxLCJUIjoib3RoZXIiLCJLIjoibWFpbGJveGVzIiwiUCI6ImEifQ" })),
        new("negative page size", StatusCode.InvalidArgument, "INVALID_PAGE_SIZE", async c => await c.ListMailboxesAsync(new ListMailboxesRequest { PageSize = -5 })),
        new("get with an empty id", StatusCode.InvalidArgument, "INVALID_MAILBOX_ID", async c => await c.GetMailboxAsync(new GetMailboxRequest())),
        new("get an unknown mailbox", StatusCode.NotFound, "MAILBOX_NOT_FOUND", async c => await c.GetMailboxAsync(new GetMailboxRequest { MailboxId = "never-created" })),
        new("update without a mask", StatusCode.InvalidArgument, "INVALID_UPDATE_MASK", async c => await c.UpdateMailboxAsync(new UpdateMailboxRequest { Mailbox = new Mailbox { MailboxId = "never-created" } })),
        new("update of an output-only field", StatusCode.InvalidArgument, "INVALID_UPDATE_MASK", async c => await c.UpdateMailboxAsync(new UpdateMailboxRequest { Mailbox = new Mailbox { MailboxId = "never-created" }, UpdateMask = FieldMask.FromString("etag") })),
        new("update an unknown mailbox", StatusCode.NotFound, "MAILBOX_NOT_FOUND", async c => await c.UpdateMailboxAsync(new UpdateMailboxRequest { Mailbox = new Mailbox { MailboxId = "never-created" }, UpdateMask = FieldMask.FromString("display_name") })),
        new("delete an unknown mailbox", StatusCode.NotFound, "MAILBOX_NOT_FOUND", async c => await c.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = "never-created" })),
    ];

    public static TheoryData<StoreKind, string> All()
    {
        var data = new TheoryData<StoreKind, string>();
        foreach (var kind in new[] { StoreKind.Redis, StoreKind.Embedded })
        {
            foreach (var c in Cases)
            {
                data.Add(kind, c.Name);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(All))]
    public async Task Each_bad_request_gets_its_status_and_reason_and_writes_nothing(StoreKind kind, string name)
    {
        var c = Cases.Single(x => x.Name == name);
        var client = hosts.Host(kind).Mailboxes(hosts.Refused.ApiKey);

        var ex = await RpcAssert.FailsAsync(c.Code, c.Reason, () => c.Call(client));

        // Nothing secret or internal leaks through the message.
        Assert.DoesNotContain("Exception", ex.Status.Detail, StringComparison.Ordinal);
        var listed = await client.ListMailboxesAsync(new ListMailboxesRequest { PageSize = 1000 });
        Assert.Empty(listed.Mailboxes);
        if (kind == StoreKind.Redis)
        {
            Assert.Empty(TestRedis.KeysContaining(hosts.Refused.Name));
        }
    }

    [Theory]
    [InlineData(StoreKind.Redis)]
    [InlineData(StoreKind.Embedded)]
    public async Task Another_tenants_mailbox_id_is_not_found(StoreKind kind)
    {
        var owner = hosts.Host(kind).Mailboxes(hosts.A.ApiKey);
        var created = (await owner.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = Valid() })).Mailbox;
        var intruder = hosts.Host(kind).Mailboxes(hosts.Refused.ApiKey);

        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await intruder.GetMailboxAsync(new GetMailboxRequest { MailboxId = created.MailboxId }));
        await RpcAssert.FailsAsync(StatusCode.NotFound, "MAILBOX_NOT_FOUND", async () => await intruder.DeleteMailboxAsync(new DeleteMailboxRequest { MailboxId = created.MailboxId }));
        Assert.Equal(created, (await owner.GetMailboxAsync(new GetMailboxRequest { MailboxId = created.MailboxId })).Mailbox);
    }

    [Theory]
    [InlineData(StoreKind.Redis, null, "API_KEY_MISSING")]
    [InlineData(StoreKind.Redis, "wrong-key", "API_KEY_INVALID")]
    [InlineData(StoreKind.Embedded, null, "API_KEY_MISSING")]
    [InlineData(StoreKind.Embedded, "wrong-key", "API_KEY_INVALID")]
    public async Task Missing_or_wrong_api_key_is_unauthenticated(StoreKind kind, string? apiKey, string reason)
    {
        var client = hosts.Host(kind).Mailboxes(apiKey);

        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, reason, async () => await client.CreateMailboxAsync(new CreateMailboxRequest { Mailbox = Valid() }));
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, reason, async () => await client.ListMailboxesAsync(new ListMailboxesRequest()));
    }
}
