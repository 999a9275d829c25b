using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Hosting;

/// <summary>
/// Every configuration section as its own options type, each validated at start. Reload policy: all of them are read
/// once, at start (classes take <see cref="IOptions{TOptions}"/>, never a monitor); a changed setting takes effect at the
/// next restart (docs/configuration.md, "When settings take effect").
/// </summary>
internal static class OptionsServiceCollectionExtensions
{
    public static IServiceCollection AddMailGrpcOptions(this IServiceCollection services, IConfiguration configuration)
    {
        // Each Bind call names its type, so the source-generated binder (native AOT) serves it.
        services.AddOptions<ApiKeysOptions>().Bind(configuration.GetSection(ApiKeysOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ApiKeysOptions>, ApiKeysOptionsValidator>();

        services.AddOptions<OAuthClientsOptions>().Bind(configuration.GetSection(OAuthClientsOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<OAuthClientsOptions>, OAuthClientsOptionsValidator>();

        services.AddOptions<RedisOptions>().Bind(configuration.GetSection(RedisOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RedisOptions>, RedisOptionsValidator>();

        services.AddOptions<EncryptionOptions>().Bind(configuration.GetSection(EncryptionOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EncryptionOptions>, EncryptionOptionsValidator>();

        services.AddOptions<NetworkOptions>().Bind(configuration.GetSection(NetworkOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<NetworkOptions>, NetworkOptionsValidator>();

        services.AddOptions<TlsOptions>().Bind(configuration.GetSection(TlsOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TlsOptions>, TlsOptionsValidator>();

        services.AddOptions<TokenOptions>().Bind(configuration.GetSection(TokenOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TokenOptions>, TokenOptionsValidator>();

        services.AddOptions<Pop3Options>().Bind(configuration.GetSection(Pop3Options.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<Pop3Options>, Pop3OptionsValidator>();

        services.AddOptions<DiagnosticsOptions>().Bind(configuration.GetSection(DiagnosticsOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DiagnosticsOptions>, DiagnosticsOptionsValidator>();

        services.AddOptions<SyncOptions>().Bind(configuration.GetSection(SyncOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SyncOptions>, SyncOptionsValidator>();

        // No rules of their own today; bound here so every section is in one place.
        services.AddOptions<ShutdownOptions>().Bind(configuration.GetSection(ShutdownOptions.SectionName));
        services.AddOptions<TelemetryOptions>().Bind(configuration.GetSection(TelemetryOptions.SectionName));
        return services;
    }
}
