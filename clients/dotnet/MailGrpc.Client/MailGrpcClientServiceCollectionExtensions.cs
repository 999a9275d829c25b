using MailGrpc.Client;
using MailGrpc.V1;
using Microsoft.Extensions.Options;

// Extension methods for IServiceCollection conventionally live in its namespace, so they show up without a using.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the MailGrpc client in a service collection.</summary>
public static class MailGrpcClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers a singleton <see cref="MailGrpcClient"/> (one HTTP/2 channel, shared by every caller) and the generated
    /// <see cref="MailboxService.MailboxServiceClient"/>, <see cref="AuthorizationService.AuthorizationServiceClient"/>
    /// and <see cref="MessageService.MessageServiceClient"/> on the same channel, with the API key, deadlines and
    /// retries applied.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options (address, API key, TLS, deadlines, retries).</param>
    /// <returns>The service collection, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is null.</exception>
    /// <remarks>Invalid options throw <see cref="OptionsValidationException"/> when the client is first resolved.</remarks>
    public static IServiceCollection AddMailGrpcClient(this IServiceCollection services, Action<MailGrpcClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);

        services.AddOptions<MailGrpcClientOptions>()
            .Configure(configure)
            .Validate(o => MailGrpcClient.Validate(o) is null, "Invalid MailGrpcClientOptions: set an absolute http(s) Address, a non-empty ApiKey and MaxAttempts 1-5.");
        services.AddSingleton(sp => new MailGrpcClient(sp.GetRequiredService<IOptions<MailGrpcClientOptions>>().Value));
        services.AddSingleton(sp => sp.GetRequiredService<MailGrpcClient>().Mailboxes);
        services.AddSingleton(sp => sp.GetRequiredService<MailGrpcClient>().Authorization);
        services.AddSingleton(sp => sp.GetRequiredService<MailGrpcClient>().Messages);
        return services;
    }
}
