using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MailGrpc.Server.Authorization;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MailGrpc.Tests.Infrastructure;

/// <summary>
/// The real server, hosted in the test process on ASP.NET Core's test server, with settings given per test class.
/// Clients are real gRPC clients over HTTP/2 frames through the in-memory handler. The one test host: the POP3 tests'
/// variant (<see cref="ForPop3"/>: the rig's Redis and Dovecot, one tenant, <see cref="DictionaryCredentials"/> in place
/// of the token layer) is this host too.
/// </summary>
public sealed class MailGrpcTestHost : IAsyncDisposable
{
    private readonly WebApplicationFactory<Program> _factory;

    public MailGrpcTestHost(IReadOnlyDictionary<string, string?> settings)
        : this(settings, configureServices: null)
    {
    }

    /// <param name="configureServices">Replaces server services after the server's own registrations (in-process fakes of external endpoints).</param>
    public MailGrpcTestHost(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? configureServices)
    {
        Settings = settings;
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseEnvironment("Testing");
            // UseSetting, unlike ConfigureAppConfiguration, is visible while Program.cs builds the host.
            foreach (var (key, value) in settings)
            {
                builder.UseSetting(key, value);
            }

            if (configureServices is not null)
            {
                builder.ConfigureTestServices(configureServices);
            }
        });
        Channel = GrpcChannel.ForAddress(_factory.Server.BaseAddress, new GrpcChannelOptions
        {
            HttpHandler = _factory.Server.CreateHandler(),
            MaxReceiveMessageSize = 16 * 1024 * 1024,
        });
    }

    /// <summary>
    /// The server on the rig for POP3 tests: its Redis, its CA, loopback POP3 allowed, fast polls, <paramref name="extra"/>
    /// settings on top, one tenant (<see cref="Tenant"/>) and — for tests of the POP3 side only —
    /// <see cref="Credentials"/> in place of the token layer.
    /// </summary>
    public static MailGrpcTestHost ForPop3(Pop3Rig rig, IReadOnlyDictionary<string, string?>? extra = null, TestTenant? tenant = null)
    {
        ArgumentNullException.ThrowIfNull(rig);
        tenant ??= TestTenant.Create("pop3");
        var settings = Pop3Settings(rig, tenant);
        foreach (var (k, v) in extra ?? new Dictionary<string, string?>())
        {
            settings[k] = v;
        }

        var credentials = new DictionaryCredentials();
        return new MailGrpcTestHost(settings, services =>
        {
            services.RemoveAll<IMailboxCredentials>();
            services.AddSingleton<IMailboxCredentials>(credentials);
        })
        {
            Tenant = tenant,
            Credentials = credentials,
        };
    }

    /// <summary>Server settings for the rig's POP3 tests: its Redis, its CA, loopback POP3 allowed, fast polls.</summary>
    public static Dictionary<string, string?> Pop3Settings(Pop3Rig rig, params TestTenant[] tenants)
    {
        ArgumentNullException.ThrowIfNull(rig);
        // The token layer's settings (encryption key, OAuth client "rig", CA, loopback allowed) plus ours.
        var settings = MailGrpc.Tests.Authorization.OAuthRig.Settings(rig.Env("OAUTH_CLIENT_ID"), rig.Env("OAUTH_CLIENT_SECRET"), tenants);
        settings["MailGrpc:Redis:Configuration"] = rig.Redis;
        settings["MailGrpc:Pop3:PollInterval"] = "00:00:01";
        settings["MailGrpc:Pop3:LeaseWait"] = "00:00:20";

        // Each host its own engine schedule (watched mailboxes are polled through it): a host never claims another test's
        // mailboxes, whose credentials only that test's host has.
        settings["MailGrpc:Sync:Schedule"] = "h" + Guid.NewGuid().ToString("N")[..12];
        return settings;
    }

    public IReadOnlyDictionary<string, string?> Settings { get; }

    /// <summary>The tenant of a <see cref="ForPop3"/> host.</summary>
    public TestTenant Tenant { get => field ?? throw new InvalidOperationException("this host was not made by ForPop3"); private init; }

    /// <summary>The credentials of a <see cref="ForPop3"/> host (mailbox id → credential).</summary>
    internal DictionaryCredentials Credentials { get => field ?? throw new InvalidOperationException("this host was not made by ForPop3"); private init; }

    public GrpcChannel Channel { get; }

    public IServiceProvider Services => _factory.Services;

    /// <summary>An HTTP client for the server's plain HTTP endpoints (e.g. the OAuth callback).</summary>
    public HttpClient CreateHttpClient() => _factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    /// <summary>A call invoker that sends <paramref name="apiKey"/> (when not null) on every call.</summary>
    public CallInvoker Invoker(string? apiKey) => apiKey is null ? Channel.CreateCallInvoker() : Channel.Intercept(m => { m.Add("x-api-key", apiKey); return m; });

    public MailboxService.MailboxServiceClient Mailboxes(string? apiKey) => new(Invoker(apiKey));

    public AuthorizationService.AuthorizationServiceClient Authorization(string? apiKey) => new(Invoker(apiKey));

    public MessageService.MessageServiceClient Messages(string? apiKey) => new(Invoker(apiKey));

    /// <summary>Registers an ACTIVE mailbox of <see cref="Tenant"/> for a rig user (state set server-side, as the token layer would).</summary>
    public async Task<string> CreateActiveMailboxAsync(string user, Security security, int port, bool oauth = false, SaslMechanism mechanism = SaslMechanism.Xoauth2)
    {
        var id = "m-" + Guid.NewGuid().ToString("N")[..12];
        await Mailboxes(Tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
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

    /// <summary>Sets a mailbox of <see cref="Tenant"/> to <paramref name="state"/> in the store, as the token layer would.</summary>
    internal async Task SetStateAsync(string mailboxId, MailGrpc.Server.Mailboxes.MailboxState state)
    {
        var repository = Services.GetRequiredService<MailGrpc.Server.Mailboxes.MailboxRepository>();
        await repository.UpdateAsync(Tenant.Name, mailboxId, m => m with { State = state }, CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _factory.DisposeAsync();
    }

    /// <summary>Settings that register the given tenants' API keys.</summary>
    public static Dictionary<string, string?> ApiKeySettings(params TestTenant[] tenants)
    {
        var settings = new Dictionary<string, string?>();
        for (var i = 0; i < tenants.Length; i++)
        {
            settings[$"MailGrpc:ApiKeys:{i}:Tenant"] = tenants[i].Name;
            settings[$"MailGrpc:ApiKeys:{i}:KeyHash"] = tenants[i].KeyHash;
        }

        return settings;
    }
}
