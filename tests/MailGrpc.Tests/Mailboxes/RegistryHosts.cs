using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Mailboxes;

/// <summary>
/// One in-process server per store kind, each with a few fresh tenants: <see cref="A"/> and <see cref="B"/> for isolation,
/// <see cref="Lister"/> for paging, <see cref="Refused"/> for bad requests (it must end up with nothing stored).
/// </summary>
public sealed class RegistryHosts : IAsyncLifetime
{
    public static readonly string EncryptionKey = Convert.ToBase64String(new byte[32].Select((_, i) => (byte)(i * 7 + 1)).ToArray());

    public TestTenant A { get; } = TestTenant.Create("a");

    public TestTenant B { get; } = TestTenant.Create("b");

    public TestTenant Lister { get; } = TestTenant.Create("list");

    public TestTenant Refused { get; } = TestTenant.Create("refused");

    public MailGrpcTestHost Redis { get; private set; } = null!;

    public MailGrpcTestHost Embedded { get; private set; } = null!;

    public MailGrpcTestHost Host(StoreKind kind) => kind == StoreKind.Redis ? Redis : Embedded;

    public Dictionary<string, string?> Settings(StoreKind kind)
    {
        var settings = MailGrpcTestHost.ApiKeySettings(A, B, Lister, Refused);
        foreach (var (key, value) in StoreKinds.Settings(kind))
        {
            settings[key] = value;
        }

        settings["MailGrpc:Encryption:Keys:k1"] = EncryptionKey;
        settings["MailGrpc:Encryption:ActiveKeyId"] = "k1";
        settings["MailGrpc:OAuthClients:corp:Provider"] = "Generic";
        settings["MailGrpc:OAuthClients:corp:ClientId"] = "mailgrpc-test";
        settings["MailGrpc:OAuthClients:corp:Authority"] = "https://127.0.0.1:18443";
        settings["MailGrpc:OAuthClients:m365:Provider"] = "Microsoft";
        settings["MailGrpc:OAuthClients:m365:ClientId"] = "00000000-0000-0000-0000-000000000001";
        settings["MailGrpc:OAuthClients:m365:TenantId"] = "organizations";
        settings["MailGrpc:OAuthClients:gmail:Provider"] = "Google";
        settings["MailGrpc:OAuthClients:gmail:ClientId"] = "1234-abc.apps.googleusercontent.com";
        settings["MailGrpc:Network:AllowedHosts:0"] = "pop.internal.test";
        return settings;
    }

    public Task InitializeAsync()
    {
        Redis = new MailGrpcTestHost(Settings(StoreKind.Redis));
        Embedded = new MailGrpcTestHost(Settings(StoreKind.Embedded));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await Redis.DisposeAsync();
        await Embedded.DisposeAsync();
    }
}
