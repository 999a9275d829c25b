using Grpc.Net.ClientFactory;
using MailGrpc.Client;
using MailGrpc.V1;
using Microsoft.Extensions.Options;

// Extension methods for IServiceCollection conventionally live in its namespace, so they show up without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the MailGrpc client in a service collection.</summary>
public static class MailGrpcClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers the generated <see cref="MailboxService.MailboxServiceClient"/>,
    /// <see cref="AuthorizationService.AuthorizationServiceClient"/> and <see cref="MessageService.MessageServiceClient"/>
    /// through Grpc.Net.ClientFactory (<c>AddGrpcClient</c>: pooled HTTP/2 handlers, one per options), each with the API
    /// key, default deadlines, retries of idempotent reads and <see cref="MailGrpcException"/> for refused calls, and the
    /// <see cref="MailGrpcClient"/> facade over them (transient, like the clients: resolve it where you need it).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options (address, API key, TLS, deadlines, retries); bind configuration with
    /// <c>services.Configure&lt;MailGrpcClientOptions&gt;(section)</c> and pass <c>_ =&gt; { }</c> if you prefer.</param>
    /// <returns>The service collection, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is null.</exception>
    /// <remarks>Invalid options throw <see cref="OptionsValidationException"/> when a client is first resolved.</remarks>
    public static IServiceCollection AddMailGrpcClient(this IServiceCollection services, Action<MailGrpcClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);

        services.AddOptions<MailGrpcClientOptions>()
            .Configure(configure)
            .Validate(o => MailGrpcClient.Validate(o) is null, "Invalid MailGrpcClientOptions: set an absolute http(s) Address, a non-empty ApiKey, MaxAttempts 1-5, positive deadlines and an existing TrustedCaCertificateFile.");
        Register<MailboxService.MailboxServiceClient>(services);
        Register<AuthorizationService.AuthorizationServiceClient>(services);
        Register<MessageService.MessageServiceClient>(services);
        services.AddTransient(sp => new MailGrpcClient(
            sp.GetRequiredService<MailboxService.MailboxServiceClient>(),
            sp.GetRequiredService<AuthorizationService.AuthorizationServiceClient>(),
            sp.GetRequiredService<MessageService.MessageServiceClient>()));
        return services;
    }

    private static void Register<TClient>(IServiceCollection services)
        where TClient : class
    {
        static MailGrpcClientOptions Options(IServiceProvider sp) => sp.GetRequiredService<IOptions<MailGrpcClientOptions>>().Value;

        var builder = services.AddGrpcClient<TClient>((sp, factory) => factory.Address = Options(sp).Address)
            .ConfigurePrimaryHttpMessageHandler(sp => MailGrpcClient.CreateHandler(Options(sp)))
            .ConfigureChannel((sp, channel) => MailGrpcClient.ConfigureChannel(channel, Options(sp)));
        // Outermost first: refused calls become MailGrpcException; then the API key and default deadlines.
        builder.AddInterceptor(() => new ErrorTranslationInterceptor());
        builder.AddInterceptor(sp => new CallDefaultsInterceptor(Options(sp).ApiKey!, Options(sp).UnaryDeadline, Options(sp).StreamDeadline, TimeProvider.System));
    }
}
