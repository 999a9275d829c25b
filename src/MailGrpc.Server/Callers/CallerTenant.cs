using Grpc.Core;

namespace MailGrpc.Server.Callers;

/// <summary>Where the authenticated caller's tenant lives during a call.</summary>
internal static class CallerTenant
{
    private const string Key = "mailgrpc.tenant";

    /// <summary>The tenant used for anonymous callers when no API keys are configured (loopback only).</summary>
    public const string Anonymous = "default";

    public static void Set(ServerCallContext context, string tenant) => context.UserState[Key] = tenant;

    /// <summary>The caller's tenant. Every read and write is scoped by it.</summary>
    public static string GetTenant(this ServerCallContext context) =>
        context.UserState.TryGetValue(Key, out var tenant) && tenant is string value
            ? value
            : throw new InvalidOperationException("The call was not authenticated; ApiKeyInterceptor must run first.");
}
