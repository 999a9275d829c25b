using System.Collections.Concurrent;
using System.Net;
using Google.Rpc;
using MailGrpc.Server.Callers;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Hosting;
using MailGrpc.Tests.Infrastructure;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MailGrpc.Tests.Callers;

/// <summary>
/// The API-key scheme on its own (DI, an <see cref="HttpContext"/>, no server): which caller becomes which tenant, and
/// what a refused caller receives on the wire (the gRPC status, <c>ErrorInfo</c> reason and message), with the key in no
/// header and no log line.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class ApiKeyAuthenticationHandlerTests
{
    private static readonly TestTenant Alpha = TestTenant.Create("alpha");
    private static readonly TestTenant Beta = TestTenant.Create("beta");

    [Fact]
    public async Task The_right_key_authenticates_as_its_tenant_in_a_claim()
    {
        await using var scheme = Scheme.With(Alpha, Beta);

        foreach (var tenant in new[] { Alpha, Beta })
        {
            var context = scheme.Request(tenant.ApiKey);
            var result = await context.AuthenticateAsync(ApiKeyAuthenticationHandler.SchemeName);

            Assert.True(result.Succeeded);
            Assert.True(result.Principal!.Identity!.IsAuthenticated);
            Assert.Equal(tenant.Name, result.Principal.FindFirst(CallerClaims.Tenant)?.Value);
            Assert.Equal(tenant.Name, result.Principal.GetTenant());
        }
    }

    [Fact]
    public async Task A_missing_key_is_challenged_with_unauthenticated_api_key_missing()
    {
        await using var scheme = Scheme.With(Alpha);
        var context = scheme.Request(apiKey: null);

        var result = await context.AuthenticateAsync(ApiKeyAuthenticationHandler.SchemeName);
        Assert.False(result.Succeeded);
        await context.ChallengeAsync(ApiKeyAuthenticationHandler.SchemeName);

        AssertGrpcRefusal(context.Response, "API_KEY_MISSING", "Send an API key in the 'x-api-key' metadata.");
    }

    [Theory]
    [InlineData("")]
    [InlineData("wrong-key")]
    public async Task An_empty_key_is_missing_and_a_wrong_key_is_invalid(string apiKey)
    {
        await using var scheme = Scheme.With(Alpha);
        var context = scheme.Request(apiKey);

        Assert.False((await context.AuthenticateAsync(ApiKeyAuthenticationHandler.SchemeName)).Succeeded);
        await context.ChallengeAsync(ApiKeyAuthenticationHandler.SchemeName);

        if (apiKey.Length == 0)
        {
            AssertGrpcRefusal(context.Response, "API_KEY_MISSING", "Send an API key in the 'x-api-key' metadata.");
        }
        else
        {
            AssertGrpcRefusal(context.Response, "API_KEY_INVALID", "The API key is not valid.");
        }
    }

    [Fact]
    public async Task An_oversized_copy_of_a_valid_key_is_invalid_and_appears_in_no_header_or_log()
    {
        await using var scheme = Scheme.With(Alpha);
        var oversized = Alpha.ApiKey + new string('k', ApiKeyAuthenticationHandler.MaxApiKeyLength);
        var context = scheme.Request(oversized);

        Assert.False((await context.AuthenticateAsync(ApiKeyAuthenticationHandler.SchemeName)).Succeeded);
        await context.ChallengeAsync(ApiKeyAuthenticationHandler.SchemeName);

        AssertGrpcRefusal(context.Response, "API_KEY_INVALID", "The API key is not valid.");
        Assert.DoesNotContain(context.Response.Headers, h => h.Value.ToString().Contains("kkkk", StringComparison.Ordinal));
        Assert.DoesNotContain(scheme.Logs, l => l.Contains("kkkk", StringComparison.Ordinal) || l.Contains(Alpha.ApiKey, StringComparison.Ordinal));
    }

    [Fact]
    public async Task No_key_right_or_wrong_reaches_a_log_line_at_any_level()
    {
        await using var scheme = Scheme.With(Alpha);
        var keys = new[] { Alpha.ApiKey, "wrong-" + Alpha.ApiKey };
        foreach (var key in keys)
        {
            var context = scheme.Request(key);
            var result = await context.AuthenticateAsync(ApiKeyAuthenticationHandler.SchemeName);
            if (!result.Succeeded)
            {
                await context.ChallengeAsync(ApiKeyAuthenticationHandler.SchemeName);
            }
        }

        Assert.NotEmpty(scheme.Logs); // Trace is on: the scheme did log.
        Assert.Contains(scheme.Logs, l => l.Contains("API_KEY_INVALID", StringComparison.Ordinal));
        Assert.DoesNotContain(scheme.Logs, l => l.Contains(Alpha.ApiKey, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Forbid_is_a_grpc_refusal_too_never_a_bare_403()
    {
        await using var scheme = Scheme.With(Alpha);
        var context = scheme.Request(Alpha.ApiKey);

        await context.ForbidAsync(ApiKeyAuthenticationHandler.SchemeName);

        AssertGrpcRefusal(context.Response, "API_KEY_INVALID", "The API key is not valid.");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("127.0.0.1")]
    [InlineData("127.8.9.10")]
    [InlineData("::1")]
    [InlineData("::ffff:127.0.0.1")]
    public async Task Without_keys_a_loopback_caller_is_the_anonymous_tenant_whatever_it_sends(string? localAddress)
    {
        await using var scheme = Scheme.With();
        foreach (var key in new[] { null, "anything" })
        {
            var context = scheme.Request(key, localAddress is null ? null : IPAddress.Parse(localAddress));
            var result = await context.AuthenticateAsync(ApiKeyAuthenticationHandler.SchemeName);

            Assert.True(result.Succeeded);
            Assert.Equal(CallerClaims.AnonymousTenant, result.Principal!.GetTenant());
        }
    }

    [Theory]
    [InlineData("10.0.0.5")]
    [InlineData("192.168.1.20")]
    [InlineData("2001:db8::1")]
    [InlineData("::ffff:10.0.0.5")]
    public async Task Without_keys_a_caller_that_reached_a_non_loopback_address_is_refused(string localAddress)
    {
        await using var scheme = Scheme.With();
        var context = scheme.Request(apiKey: null, IPAddress.Parse(localAddress));

        Assert.False((await context.AuthenticateAsync(ApiKeyAuthenticationHandler.SchemeName)).Succeeded);
        await context.ChallengeAsync(ApiKeyAuthenticationHandler.SchemeName);

        AssertGrpcRefusal(context.Response, "API_KEY_MISSING", "Send an API key in the 'x-api-key' metadata.");
    }

    [Theory]
    [InlineData("http://127.0.0.1:5080", true)]
    [InlineData("http://localhost:5080", true)]
    [InlineData("http://[::1]:5080", true)]
    [InlineData("http://0.0.0.0:5080", false)]
    [InlineData("http://+:5080", false)]
    [InlineData("http://*:5080", false)]
    [InlineData("http://[::]:5080", false)]
    [InlineData("http://10.1.2.3:5080", false)]
    [InlineData("not a url", false)]
    public void Start_up_allows_anonymous_mode_only_on_loopback_addresses(string address, bool loopback)
    {
        Assert.Equal(loopback, AnonymousModeGuard.IsLoopback(address));
    }

    [Fact]
    public async Task The_caller_policy_authenticates_with_the_api_key_scheme_and_challenges_without_a_tenant()
    {
        await using var scheme = Scheme.With(Alpha);
        var policy = await scheme.Services.GetRequiredService<IAuthorizationPolicyProvider>().GetPolicyAsync(CallerPolicy.Name);
        Assert.NotNull(policy);
        Assert.Equal([ApiKeyAuthenticationHandler.SchemeName], policy.AuthenticationSchemes);
        var evaluator = scheme.Services.GetRequiredService<IPolicyEvaluator>();

        var anonymous = scheme.Request(apiKey: null);
        var refused = await evaluator.AuthorizeAsync(policy, await evaluator.AuthenticateAsync(policy, anonymous), anonymous, resource: null);
        Assert.True(refused.Challenged);

        var caller = scheme.Request(Alpha.ApiKey);
        var allowed = await evaluator.AuthorizeAsync(policy, await evaluator.AuthenticateAsync(policy, caller), caller, resource: null);
        Assert.True(allowed.Succeeded);
        Assert.Equal(Alpha.Name, caller.User.GetTenant());
    }

    private static void AssertGrpcRefusal(Microsoft.AspNetCore.Http.HttpResponse response, string reason, string message)
    {
        // A trailers-only gRPC response: HTTP 200, the status in the headers, the google.rpc.Status with its ErrorInfo.
        Assert.Equal(StatusCodes.Status200OK, response.StatusCode);
        Assert.Equal("application/grpc", response.ContentType);
        Assert.Equal("16", response.Headers["grpc-status"].ToString());
        Assert.Equal(message, response.Headers["grpc-message"].ToString()); // printable ASCII: sent as it is
        var status = Google.Rpc.Status.Parser.ParseFrom(Convert.FromBase64String(response.Headers["grpc-status-details-bin"].ToString()));
        Assert.Equal(16, status.Code);
        Assert.Equal(message, status.Message);
        var info = Assert.Single(status.Details).Unpack<ErrorInfo>();
        Assert.Equal(reason, info.Reason);
        Assert.Equal("mailgrpc.v1", info.Domain);
    }

    /// <summary>The server's own Callers wiring on a plain service provider, logging everything into a list.</summary>
    private sealed class Scheme : IAsyncDisposable
    {
        private readonly ServiceProvider _provider;
        private readonly ConcurrentQueue<string> _logs = new();
        private readonly List<AsyncServiceScope> _scopes = [];

        private Scheme(params TestTenant[] tenants)
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(MailGrpcTestHost.ApiKeySettings(tenants)).Build();
            var services = new ServiceCollection();
            services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new ListLoggerProvider(_logs)));
            services.AddMailGrpcOptions(configuration);
            services.AddMailGrpcCallers();
            _provider = services.BuildServiceProvider();
        }

        public IServiceProvider Services => _provider;

        public IEnumerable<string> Logs => _logs;

        public static Scheme With(params TestTenant[] tenants) => new(tenants);

        public DefaultHttpContext Request(string? apiKey, IPAddress? localAddress = null)
        {
            // One scope per request, as the server has: authentication handlers are per request.
            var scope = _provider.CreateAsyncScope();
            _scopes.Add(scope);
            var context = new DefaultHttpContext { RequestServices = scope.ServiceProvider };
            context.Request.Method = "POST";
            context.Request.Path = "/mailgrpc.v1.MailboxService/ListMailboxes";
            context.Request.ContentType = "application/grpc";
            context.Connection.LocalIpAddress = localAddress;
            if (apiKey is not null)
            {
                context.Request.Headers["x-api-key"] = apiKey;
            }

            return context;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var scope in _scopes)
            {
                await scope.DisposeAsync();
            }

            await _provider.DisposeAsync();
        }
    }

    private sealed class ListLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ListLogger(lines);

        public void Dispose()
        {
        }

        private sealed class ListLogger(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                // The formatted line, every structured value, and the exception's message.
                var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" ", pairs.Select(p => $"{p.Key}={p.Value}")) : string.Empty;
                lines.Enqueue($"{logLevel} {formatter(state, exception)} {values} {exception?.Message}");
            }
        }
    }
}
