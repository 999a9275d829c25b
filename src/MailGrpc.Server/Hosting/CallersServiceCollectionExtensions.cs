using MailGrpc.Server.Callers;
using MailGrpc.Server.GrpcApi;

namespace MailGrpc.Server.Hosting;

/// <summary>Callers: API-key authentication (tenant as a claim) and the policy every MailGrpc gRPC service requires.</summary>
internal static class CallersServiceCollectionExtensions
{
    public static IServiceCollection AddMailGrpcCallers(this IServiceCollection services)
    {
        services.AddSingleton<ApiKeyAuthenticator>();
        services.AddHostedService<AnonymousModeGuard>();

        // The policy names the scheme; endpoints without it (health, reflection, the OAuth callback, metrics) stay open.
        services.AddAuthentication()
            .AddScheme<ApiKeyAuthenticationOptions, ApiKeyAuthenticationHandler>(
                ApiKeyAuthenticationHandler.SchemeName, options => options.WriteRefusal = GrpcRefusal.WriteAsync);
        services.AddAuthorizationBuilder()
            .AddPolicy(CallerPolicy.Name, policy => policy
                .AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName)
                .RequireAuthenticatedUser()
                .RequireClaim(CallerClaims.Tenant));
        return services;
    }
}
