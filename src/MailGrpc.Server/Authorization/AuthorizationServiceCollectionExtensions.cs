using MailGrpc.Server.Authorization.Broker;
using MailGrpc.Server.Authorization.Flows;
using MailGrpc.Server.Authorization.Providers;
using MailGrpc.Server.Authorization.Providers.Msal;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Network;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.Identity.Client;

namespace MailGrpc.Server.Authorization;

/// <summary>The authorization area's wiring, called once from <c>MailGrpcServiceCollectionExtensions</c>.</summary>
internal static class AuthorizationServiceCollectionExtensions
{
    /// <summary>The name of the HTTP client every OAuth call goes through (trusts <c>MailGrpc:Tls:ExtraTrustedCaFile</c>).</summary>
    public const string OAuthHttpClient = "mailgrpc-oauth";

    public static IServiceCollection AddMailGrpcAuthorization(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddSingleton<IValidateOptions<EncryptionOptions>, EncryptionKeysValidator>();

        // Secrets.
        services.AddSingleton<KeyRing>();
        services.AddSingleton<SecretProtector>();
        services.AddSingleton<CredentialStore>();
        services.AddHostedService<KeyRingStartupCheck>();
        services.AddSingleton<ReencryptionSweep>();
        services.AddHostedService(sp => sp.GetRequiredService<ReencryptionSweep>());

        // OAuth over HTTPS, trusting the extra CA when one is configured.
        services.AddSingleton<ExtraTrust>();
        services.AddHttpClient(OAuthHttpClient, (sp, http) => http.Timeout = sp.GetRequiredService<IOptions<TokenOptions>>().Value.ProviderTimeout)
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<ExtraTrust>().CreateHttpHandler());

        // Flows and the broker.
        services.AddSingleton<StandardOAuthProvider>();
        services.AddKeyedSingleton<IOAuthProvider>(OAuthProviderKind.Generic, (sp, _) => sp.GetRequiredService<StandardOAuthProvider>());
        services.AddKeyedSingleton<IOAuthProvider>(OAuthProviderKind.Google, (sp, _) => sp.GetRequiredService<StandardOAuthProvider>());

        // Microsoft through MSAL; its HTTP is a seam tests replace with an in-process Entra fake.
        services.TryAddSingleton<IMsalHttpClientFactory, MsalHttpClientFactory>();
        services.AddSingleton<MicrosoftOAuthProvider>();
        services.AddKeyedSingleton<IOAuthProvider>(OAuthProviderKind.Microsoft, (sp, _) => sp.GetRequiredService<MicrosoftOAuthProvider>());
        services.AddSingleton<OAuthClientRegistry>();
        services.AddSingleton<PendingAuthorizations>();
        services.AddSingleton<MailboxStateRecorder>();
        services.AddSingleton<TokenBroker>();
        services.AddSingleton<IMailboxCredentials>(sp => sp.GetRequiredService<TokenBroker>());
        services.AddSingleton<AuthorizationManager>();
        services.AddSingleton<GrantRevocation>();
        services.AddCallbackLogRedaction();
        services.AddHostedService<RedirectUriCheck>();
        return services;
    }
}
