using MailGrpc.Server.Hosting;
using MailGrpc.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace MailGrpc.Tests.Mailboxes;

/// <summary>
/// The server's own DI table (<c>AddMailGrpc</c>) built but never started: no listener, no hosted service, the embedded
/// store, a fake clock. For fast tests of the core and of the gRPC edge's services called directly.
/// </summary>
public sealed class CoreServices : IAsyncDisposable
{
    public const string Tenant = "core-tenant";

    private readonly WebApplication _app;

    public CoreServices()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Configuration.AddInMemoryCollection(RegistryHostsSettings());
        builder.AddMailGrpc();
        builder.Services.AddSingleton<TimeProvider>(Clock);
        _app = builder.Build();
    }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));

    public IServiceProvider Services => _app.Services;

    internal T Get<T>()
        where T : notnull => _app.Services.GetRequiredService<T>();

    internal InMemoryStateStore Store => Assert.IsType<InMemoryStateStore>(Get<IStateStore>());

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    // The OAuth clients and allowed host of the registry's rig-backed tests (RegistryHosts), without Redis or API keys.
    private static Dictionary<string, string?> RegistryHostsSettings()
    {
        var settings = new Dictionary<string, string?>
        {
            ["MailGrpc:Encryption:Keys:k1"] = RegistryHosts.EncryptionKey,
            ["MailGrpc:Encryption:ActiveKeyId"] = "k1",
            ["MailGrpc:OAuthClients:corp:Provider"] = "Generic",
            ["MailGrpc:OAuthClients:corp:ClientId"] = "mailgrpc-test",
            ["MailGrpc:OAuthClients:corp:Authority"] = "https://127.0.0.1:18443",
            ["MailGrpc:OAuthClients:m365:Provider"] = "Microsoft",
            ["MailGrpc:OAuthClients:m365:ClientId"] = "00000000-0000-0000-0000-000000000001",
            ["MailGrpc:OAuthClients:m365:TenantId"] = "organizations",
            ["MailGrpc:OAuthClients:gmail:Provider"] = "Google",
            ["MailGrpc:OAuthClients:gmail:ClientId"] = "1234-abc.apps.googleusercontent.com",
            ["MailGrpc:Network:AllowedHosts:0"] = "pop.internal.test",
        };
        return settings;
    }
}
