using Grpc.Core;
using Grpc.Core.Interceptors;
using MailGrpc.V1;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MailGrpc.Client.Tests;

public sealed class ClientOptionsTests
{
    [Fact]
    public void AddMailGrpcClient_registers_the_facade_and_the_generated_clients_through_the_client_factory()
    {
        using var provider = new ServiceCollection()
            .AddMailGrpcClient(o =>
            {
                o.Address = new Uri("http://127.0.0.1:5080");
                o.ApiKey = "key";
            })
            .BuildServiceProvider();

        var client = provider.GetRequiredService<MailGrpcClient>();
        Assert.NotNull(client.Mailboxes);
        Assert.NotNull(client.Authorization);
        Assert.NotNull(client.Messages);
        // Grpc.Net.ClientFactory knows each generated client by its type name (AddGrpcClient<T>).
        var factory = provider.GetRequiredService<Grpc.Net.ClientFactory.GrpcClientFactory>();
        Assert.NotNull(factory.CreateClient<MailboxService.MailboxServiceClient>(nameof(MailboxService.MailboxServiceClient)));
        Assert.NotNull(factory.CreateClient<MessageService.MessageServiceClient>(nameof(MessageService.MessageServiceClient)));
    }

    [Theory]
    [InlineData(null, "key", 4)]
    [InlineData("ftp://host", "key", 4)]
    [InlineData("http://127.0.0.1:5080", "", 4)]
    [InlineData("http://127.0.0.1:5080", "key", 0)]
    [InlineData("http://127.0.0.1:5080", "key", 6)]
    public void Invalid_options_are_refused_when_the_client_is_resolved(string? address, string apiKey, int maxAttempts)
    {
        using var provider = new ServiceCollection()
            .AddMailGrpcClient(o =>
            {
                o.Address = address is null ? null : new Uri(address);
                o.ApiKey = apiKey;
                o.MaxAttempts = maxAttempts;
            })
            .BuildServiceProvider();

        Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<MailGrpcClient>());
    }

    [Fact]
    public void A_missing_trusted_ca_file_is_refused()
    {
        var options = new MailGrpcClientOptions { Address = new Uri("https://127.0.0.1:5080"), ApiKey = "k", TrustedCaCertificateFile = "/nonexistent/ca.pem" };
        var error = Assert.Throws<ArgumentException>(() => new MailGrpcClient(options));
        Assert.Contains("TrustedCaCertificateFile", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_call_carries_the_api_key_and_unary_calls_get_the_default_deadline()
    {
        var now = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var interceptor = new CallDefaultsInterceptor("secret-key", TimeSpan.FromSeconds(7), null, new FixedTime(now));
        var invoker = new CapturingInvoker();
        var client = new MailboxService.MailboxServiceClient(invoker.Intercept(interceptor));

        client.GetMailboxAsync(new GetMailboxRequest { MailboxId = "m" });
        Assert.Equal("secret-key", invoker.Options!.Value.Headers!.GetValue("x-api-key"));
        Assert.Equal(now.UtcDateTime.AddSeconds(7), invoker.Options.Value.Deadline);

        // A caller's own deadline wins.
        var own = now.UtcDateTime.AddMinutes(5);
        client.GetMailboxAsync(new GetMailboxRequest { MailboxId = "m" }, deadline: own);
        Assert.Equal(own, invoker.Options.Value.Deadline);

        // Streams get no deadline unless configured.
        var messages = new MessageService.MessageServiceClient(invoker.Intercept(interceptor));
        messages.StreamMessages(new StreamMessagesRequest { MailboxId = "m" });
        Assert.Null(invoker.Options.Value.Deadline);
        Assert.Equal("secret-key", invoker.Options.Value.Headers!.GetValue("x-api-key"));
    }

    [Fact]
    public void Only_idempotent_reads_are_retried_and_only_on_unavailable()
    {
        var config = MailGrpcClient.CreateServiceConfig(4);
        var methodConfig = Assert.Single(config.MethodConfigs);
        var names = methodConfig.Names.Select(n => $"{n.Service}/{n.Method}").ToHashSet();

        Assert.Equal(4, methodConfig.RetryPolicy!.MaxAttempts);
        Assert.Equal([StatusCode.Unavailable], methodConfig.RetryPolicy.RetryableStatusCodes);
        Assert.Contains("mailgrpc.v1.MessageService/StreamMessages", names);
        Assert.Contains("mailgrpc.v1.MailboxService/GetMailbox", names);
        Assert.DoesNotContain("mailgrpc.v1.MessageService/AcknowledgeMessages", names);
        Assert.DoesNotContain("mailgrpc.v1.MailboxService/CreateMailbox", names);
        Assert.DoesNotContain("mailgrpc.v1.MessageService/DeleteMessages", names);
        Assert.Empty(MailGrpcClient.CreateServiceConfig(1).MethodConfigs);
    }

    [Fact]
    public void The_callers_own_headers_are_kept_and_not_modified()
    {
        var interceptor = new CallDefaultsInterceptor("secret-key", TimeSpan.FromSeconds(7), null, TimeProvider.System);
        var invoker = new CapturingInvoker();
        var client = new MailboxService.MailboxServiceClient(invoker.Intercept(interceptor));
        var own = new Metadata { { "x-request-id", "abc" } };

        client.GetMailboxAsync(new GetMailboxRequest { MailboxId = "m" }, headers: own);

        Assert.Equal("abc", invoker.Options!.Value.Headers!.GetValue("x-request-id"));
        Assert.Equal("secret-key", invoker.Options.Value.Headers!.GetValue("x-api-key"));
        Assert.Single(own);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    /// <summary>Records the options of the last call instead of sending it.</summary>
    private sealed class CapturingInvoker : CallInvoker
    {
        public CallOptions? Options { get; private set; }

        public override TResponse BlockingUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request) =>
            throw new NotSupportedException();

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
        {
            Options = options;
            return new AsyncUnaryCall<TResponse>(Task.FromException<TResponse>(new RpcException(Status.DefaultCancelled)), Task.FromResult(new Metadata()), () => Status.DefaultCancelled, () => [], () => { });
        }

        public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options, TRequest request)
        {
            Options = options;
            return new AsyncServerStreamingCall<TResponse>(null!, Task.FromResult(new Metadata()), () => Status.DefaultCancelled, () => [], () => { });
        }

        public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
            throw new NotSupportedException();

        public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(Method<TRequest, TResponse> method, string? host, CallOptions options) =>
            throw new NotSupportedException();
    }
}
