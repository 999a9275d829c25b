using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// The real server in-process on the rig's Redis, for POP3 tests: loopback POP3 allowed, the rig CA trusted, and —
/// for tests of the POP3 side only — <see cref="DictionaryCredentials"/> in place of the token layer.
/// </summary>
public sealed class MessagesHost : IAsyncDisposable
{
    private readonly WebApplicationFactory<Program> _factory;

    public MessagesHost(Pop3Rig rig, IReadOnlyDictionary<string, string?>? extra = null, TestTenant? tenant = null)
    {
        Tenant = tenant ?? TestTenant.Create("pop3");
        var settings = Settings(rig, Tenant);
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Testing");
            builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(settings));
            builder.ConfigureTestServices(services =>
            {
                services.RemoveAll<IMailboxCredentials>();
                services.AddSingleton<IMailboxCredentials>(Credentials);
            });
        });
        Channel = GrpcChannel.ForAddress(_factory.Server.BaseAddress, new GrpcChannelOptions
        {
            HttpHandler = _factory.Server.CreateHandler(),
            MaxReceiveMessageSize = 16 * 1024 * 1024,
        });
        var invoker = Channel.Intercept(m => { m.Add("x-api-key", Tenant.ApiKey); return m; });
        Messages = new MessageService.MessageServiceClient(invoker);
        Mailboxes = new MailboxService.MailboxServiceClient(invoker);
    }

    internal DictionaryCredentials Credentials { get; } = new();

    public TestTenant Tenant { get; }

    public GrpcChannel Channel { get; }

    public MessageService.MessageServiceClient Messages { get; }

    public MailboxService.MailboxServiceClient Mailboxes { get; }

    public IServiceProvider Services => _factory.Services;

    /// <summary>Server settings for the rig: its Redis, its CA, loopback POP3 allowed, fast polls.</summary>
    public static Dictionary<string, string?> Settings(Pop3Rig rig, params TestTenant[] tenants)
    {
        // The token layer's settings (encryption key, OAuth client "rig", CA, loopback allowed) plus ours.
        var settings = Authorization.OAuthRig.Settings(rig.Env("OAUTH_CLIENT_ID"), rig.Env("OAUTH_CLIENT_SECRET"), tenants);
        settings["MailGrpc:Redis:Configuration"] = rig.Redis;
        settings["MailGrpc:Pop3:PollInterval"] = "00:00:01";
        settings["MailGrpc:Pop3:LeaseWait"] = "00:00:20";
        return settings;
    }

    /// <summary>Registers an ACTIVE mailbox for a rig user (state set server-side, as the token layer would).</summary>
    public async Task<string> CreateActiveMailboxAsync(string user, Security security, int port, bool oauth = false, SaslMechanism mechanism = SaslMechanism.Xoauth2)
    {
        var id = "m-" + Guid.NewGuid().ToString("N")[..12];
        await Mailboxes.CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox
            {
                Username = user,
                Server = new ServerSettings { Host = "127.0.0.1", Port = port, Security = security },
                AuthMethod = oauth
                    ? new AuthMethod { Oauth = new OAuthAuth { Client = "rig", Mechanism = mechanism } }
                    : new AuthMethod { Password = new PasswordAuth() },
            },
        });
        await SetStateAsync(id, MailGrpc.Server.Mailboxes.MailboxState.Active);
        return id;
    }

    internal async Task SetStateAsync(string mailboxId, MailGrpc.Server.Mailboxes.MailboxState state)
    {
        var repository = Services.GetRequiredService<MailboxRepository>();
        await repository.UpdateAsync(Tenant.Name, mailboxId, m => m with { State = state }, CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _factory.DisposeAsync();
    }
}
