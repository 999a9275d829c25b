using System.Security.Claims;

namespace MailGrpc.Server.Callers;

/// <summary>The authenticated caller as ASP.NET Core sees it: a principal whose tenant is a claim.</summary>
internal static class CallerClaims
{
    /// <summary>The claim naming the tenant whose mailboxes the caller reads and writes.</summary>
    public const string Tenant = "mailgrpc:tenant";

    /// <summary>The tenant used for anonymous callers when no API keys are configured (loopback only).</summary>
    public const string AnonymousTenant = "default";

    public static ClaimsPrincipal Principal(string tenant, string authenticationType) =>
        new(new ClaimsIdentity([new Claim(Tenant, tenant)], authenticationType, nameType: Tenant, roleType: null));

    /// <summary>The caller's tenant. Every read and write is scoped by it.</summary>
    public static string GetTenant(this ClaimsPrincipal user) =>
        user.FindFirst(Tenant)?.Value
            ?? throw new InvalidOperationException($"The call was not authenticated; the endpoint must require the '{CallerPolicy.Name}' policy.");
}

/// <summary>The authorization policy every MailGrpc gRPC service requires: an API-key caller with a tenant.</summary>
internal static class CallerPolicy
{
    public const string Name = "mailgrpc-caller";
}
