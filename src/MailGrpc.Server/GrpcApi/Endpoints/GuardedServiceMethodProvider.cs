using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using MailGrpc.Server.Errors;
using Microsoft.AspNetCore.Routing;

namespace MailGrpc.Server.GrpcApi.Endpoints;

/// <summary>
/// Binds every gRPC service the way grpc-dotnet's default provider does (the generated <c>BindService(ServiceBinderBase,
/// …)</c>, one invoker per overridden method), but with a request marshaller that turns an undecodable request body into
/// INVALID_ARGUMENT with a reason. grpc-dotnet deserializes before any interceptor runs and reports a deserializer's
/// exception as UNKNOWN, unless the exception is an <see cref="RpcException"/>: that status is sent as it is.
/// </summary>
internal sealed class GuardedServiceMethodProvider<[DynamicallyAccessedMembers(ServiceMembers)] TService> : IServiceMethodProvider<TService>
    where TService : class
{
    internal const DynamicallyAccessedMemberTypes ServiceMembers = DynamicallyAccessedMemberTypes.PublicConstructors | DynamicallyAccessedMemberTypes.PublicMethods | DynamicallyAccessedMemberTypes.NonPublicMethods;

    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<TService> context)
    {
        for (Type? type = typeof(TService); type is not null; type = type.BaseType)
        {
            if (type.GetCustomAttribute<BindServiceMethodAttribute>(inherit: false) is { } bind)
            {
                var method = bind.BindType.GetMethod(bind.BindMethodName, BindingFlags.Public | BindingFlags.Static, [typeof(ServiceBinderBase), type])
                    ?? throw new InvalidOperationException($"No {bind.BindMethodName}(ServiceBinderBase, {type.Name}) on {bind.BindType}.");
                method.Invoke(null, [new Binder(context), null]);
                return;
            }
        }
    }

    private sealed class Binder(ServiceMethodProviderContext<TService> context) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        {
            var (target, metadata) = Find(method.Name, [typeof(TRequest), typeof(ServerCallContext)]);
            context.AddUnaryMethod(Guard(method), metadata, target.CreateDelegate<UnaryServerMethod<TService, TRequest, TResponse>>());
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (target, metadata) = Find(method.Name, [typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)]);
            context.AddServerStreamingMethod(Guard(method), metadata, target.CreateDelegate<ServerStreamingServerMethod<TService, TRequest, TResponse>>());
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (target, metadata) = Find(method.Name, [typeof(IAsyncStreamReader<TRequest>), typeof(ServerCallContext)]);
            context.AddClientStreamingMethod(Guard(method), metadata, target.CreateDelegate<ClientStreamingServerMethod<TService, TRequest, TResponse>>());
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (target, metadata) = Find(method.Name, [typeof(IAsyncStreamReader<TRequest>), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)]);
            context.AddDuplexStreamingMethod(Guard(method), metadata, target.CreateDelegate<DuplexStreamingServerMethod<TService, TRequest, TResponse>>());
        }

        /// <summary>The public instance method implementing <paramref name="name"/> (the override when there is one), and its endpoint metadata.</summary>
        private static (MethodInfo Target, List<object> Metadata) Find(string name, Type[] parameters)
        {
            var target = typeof(TService).GetMethod(name, BindingFlags.Public | BindingFlags.Instance, parameters)
                ?? throw new InvalidOperationException($"Could not find '{name}' on {typeof(TService)}.");
            var metadata = new List<object>();
            metadata.AddRange(typeof(TService).GetCustomAttributes(inherit: true));
            metadata.AddRange(target.GetCustomAttributes(inherit: true));
            metadata.Add(new HttpMethodMetadata(["POST"], acceptCorsPreflight: true));
            return (target, metadata);
        }

        private static Method<TRequest, TResponse> Guard<TRequest, TResponse>(Method<TRequest, TResponse> method)
        {
            var inner = method.RequestMarshaller;
            var guarded = new Marshaller<TRequest>(inner.ContextualSerializer, context =>
            {
                try
                {
                    return inner.ContextualDeserializer(context);
                }
                catch (Exception ex) when (ExceptionMapper.MalformedRequest(ex) is { } error)
                {
                    throw error;
                }
            });
            return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, guarded, method.ResponseMarshaller);
        }
    }
}
