using Grpc.Core;
using MailGrpc.Server.Callers;

namespace MailGrpc.Server.GrpcApi;

/// <summary>The edge's typed access to the authenticated caller of a gRPC call.</summary>
internal static class CallerContextExtensions
{
    /// <summary>
    /// The caller's tenant, from the tenant claim ASP.NET Core authentication put on the call's principal
    /// (<see cref="ApiKeyAuthenticationHandler"/>; every MailGrpc service requires <see cref="CallerPolicy"/>).
    /// </summary>
    public static string GetTenant(this ServerCallContext context) => context.GetHttpContext().User.GetTenant();
}
