using Google.Protobuf.Reflection;
using Grpc.AspNetCore.Server;
using Grpc.Reflection;

namespace MailGrpc.Server.GrpcApi.Endpoints;

/// <summary>
/// Server reflection that also describes the error contract: the <c>google.rpc</c> detail types the server sends in
/// <c>grpc-status-details-bin</c> (<c>ErrorInfo</c>, and <c>RetryInfo</c>, <c>BadRequest</c> … from the same file) and
/// <c>mailgrpc.v1.ErrorReason</c>, none of which any service's request or response refers to. Without them grpcurl and
/// <c>buf curl</c> print a refused call's details as base64 ("Symbol not found").
/// </summary>
internal static class ReflectionRegistration
{
    /// <summary>Every file reflection describes; their imports are added by <see cref="SymbolRegistry.FromFiles"/>.</summary>
    private static readonly SymbolRegistry Registry = SymbolRegistry.FromFiles(
    [
        V1.MailboxServiceReflection.Descriptor,
        V1.AuthorizationServiceReflection.Descriptor,
        V1.MessageServiceReflection.Descriptor,
        V1.EventServiceReflection.Descriptor,
        V1.ErrorReasonReflection.Descriptor,
        Google.Rpc.ErrorDetailsReflection.Descriptor,
        Google.Rpc.StatusReflection.Descriptor,
        Grpc.Health.V1.HealthReflection.Descriptor,
        Grpc.Reflection.V1Alpha.ReflectionReflection.Descriptor,
        Grpc.Reflection.V1.ReflectionReflection.Descriptor,
    ]);

    public static IServiceCollection AddMailGrpcReflection(this IServiceCollection services)
    {
        services.AddGrpcReflection();
        // The package registers both reflection versions with TryAdd and only the services' own files; these later
        // registrations win, listing the same services (every mapped gRPC endpoint) over the registry above.
        services.AddSingleton(sp => new ReflectionServiceImpl(ServiceNames(sp), Registry));
        services.AddSingleton(sp => new ReflectionV1ServiceImpl(ServiceNames(sp), Registry));
        return services;
    }

    private static List<string> ServiceNames(IServiceProvider services)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var endpoint in services.GetRequiredService<EndpointDataSource>().Endpoints)
        {
            if (endpoint.Metadata.GetMetadata<GrpcMethodMetadata>() is { } grpc)
            {
                names.Add(grpc.Method.ServiceName);
            }
        }

        return [.. names];
    }
}
