using System.Security.Cryptography;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Authorization.Broker;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Hosting;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

// Until Mailboxes.MailboxState (core, #12) replaces the proto enum on MailboxRecord; then this line goes.
using MailboxState = MailGrpc.Server.Mailboxes.MailboxState;

namespace MailGrpc.Tests.Authorization.Fast;

/// <summary>
/// The server's own service graph (its real DI wiring) with the embedded store, a fake clock and the in-process
/// <see cref="FakeOidcProvider"/> behind the OAuth HTTP client: the authorization core without a rig, a socket or a
/// server. Nothing is started; services are resolved and called directly.
/// </summary>
internal sealed class AuthorizationCore : IAsyncDisposable
{
    public const string Client = "fast";
    public const string RedirectUri = "http://127.0.0.1:5081/oauth/callback";

    private readonly WebApplication _app;

    public AuthorizationCore(Action<Dictionary<string, string?>>? configure = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["MailGrpc:Encryption:Keys:k1"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["MailGrpc:Encryption:ActiveKeyId"] = "k1",
            ["MailGrpc:Tokens:TransientBackoff"] = "00:00:00",
            [$"MailGrpc:OAuthClients:{Client}:Provider"] = "Generic",
            [$"MailGrpc:OAuthClients:{Client}:ClientId"] = FakeOidcProvider.ClientId,
            [$"MailGrpc:OAuthClients:{Client}:ClientSecret"] = FakeOidcProvider.ClientSecret,
            [$"MailGrpc:OAuthClients:{Client}:Authority"] = FakeOidcProvider.Issuer,
            [$"MailGrpc:OAuthClients:{Client}:RedirectUris:0"] = RedirectUri,
            [$"MailGrpc:OAuthClients:{Client}:Scopes:0"] = "openid",
            [$"MailGrpc:OAuthClients:{Client}:Scopes:1"] = "email",
            [$"MailGrpc:OAuthClients:{Client}:Scopes:2"] = "offline_access",
        };
        configure?.Invoke(settings);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing", ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddMailGrpc();
        builder.Services.AddSingleton<TimeProvider>(Clock);
        builder.Services.AddHttpClient(MailGrpc.Server.Authorization.AuthorizationServiceCollectionExtensions.OAuthHttpClient).ConfigurePrimaryHttpMessageHandler(() => Provider);
        _app = builder.Build();
        Assert.True(Store.IsEmbedded);
    }

    public FakeOidcProvider Provider { get; } = new();

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 1, 5, 9, 0, 0, TimeSpan.Zero));

    public IServiceProvider Services => _app.Services;

    public IStateStore Store => Services.GetRequiredService<IStateStore>();

    public MailboxRepository Mailboxes => Services.GetRequiredService<MailboxRepository>();

    public CredentialStore Credentials => Services.GetRequiredService<CredentialStore>();

    public TokenBroker Broker => Services.GetRequiredService<TokenBroker>();

    public AuthorizationManager Manager => Services.GetRequiredService<AuthorizationManager>();

    /// <summary>An OAuth mailbox (client <see cref="Client"/>) for <paramref name="username"/>, pending authorization.</summary>
    public Task<MailboxRecord> CreateOAuthMailboxAsync(string tenant, string username = "alice@fast.test") =>
        Mailboxes.CreateAsync(new MailboxRecord
        {
            Tenant = tenant,
            Id = "mbx-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)),
            Username = username,
            Host = "pop.fast.test",
            Port = 995,
            AuthKind = MailboxAuthKind.OAuth,
            OAuthClient = Client,
            State = MailboxState.PendingAuthorization,
            CreatedAt = Clock.GetUtcNow(),
            UpdatedAt = Clock.GetUtcNow(),
        }, CancellationToken.None);

    /// <summary>A password mailbox, pending its password.</summary>
    public Task<MailboxRecord> CreatePasswordMailboxAsync(string tenant, string username = "bob@fast.test") =>
        Mailboxes.CreateAsync(new MailboxRecord
        {
            Tenant = tenant,
            Id = "mbx-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)),
            Username = username,
            Host = "pop.fast.test",
            Port = 995,
            AuthKind = MailboxAuthKind.Password,
            State = MailboxState.PendingAuthorization,
            CreatedAt = Clock.GetUtcNow(),
            UpdatedAt = Clock.GetUtcNow(),
        }, CancellationToken.None);

    /// <summary>Runs the authorization-code flow through the manager: begin, consent at the fake provider, complete.</summary>
    public async Task<MailboxAuthorization> AuthorizeAsync(MailboxRecord mailbox)
    {
        var link = await Manager.BeginAsync(mailbox.Tenant, mailbox.Id, string.Empty, string.Empty, CancellationToken.None);
        var callback = Provider.Consent(link.AuthorizationUrl);
        return await Manager.CompleteAsync(mailbox.Tenant, new CodeRedemption(string.Empty, string.Empty, string.Empty, callback.ToString()), CancellationToken.None);
    }

    public Task<MailboxRecord> ReloadAsync(MailboxRecord mailbox) => Mailboxes.GetRequiredAsync(mailbox.Tenant, mailbox.Id, CancellationToken.None);

    public async Task<StoredCredential> StoredAsync(MailboxRecord mailbox) =>
        (await Credentials.GetAsync(mailbox.Tenant, mailbox.Id, CancellationToken.None))!.Credential;

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
