using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using MailGrpc.V1;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MailGrpc.Tests.Infrastructure;

/// <summary>
/// The real server, hosted in the test process on ASP.NET Core's test server, with settings given per test class.
/// Clients are real gRPC clients over HTTP/2 frames through the in-memory handler.
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

    public IReadOnlyDictionary<string, string?> Settings { get; }

    public GrpcChannel Channel { get; }

    public IServiceProvider Services => _factory.Services;

    /// <summary>An HTTP client for the server's plain HTTP endpoints (e.g. the OAuth callback).</summary>
    public HttpClient CreateHttpClient() => _factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    /// <summary>A call invoker that sends <paramref name="apiKey"/> (when not null) on every call.</summary>
    public CallInvoker Invoker(string? apiKey) => apiKey is null ? Channel.CreateCallInvoker() : Channel.Intercept(m => { m.Add("x-api-key", apiKey); return m; });

    public MailboxService.MailboxServiceClient Mailboxes(string? apiKey) => new(Invoker(apiKey));

    public AuthorizationService.AuthorizationServiceClient Authorization(string? apiKey) => new(Invoker(apiKey));

    public MessageService.MessageServiceClient Messages(string? apiKey) => new(Invoker(apiKey));

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
