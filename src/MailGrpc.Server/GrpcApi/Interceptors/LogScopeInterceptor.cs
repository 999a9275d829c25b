using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Core.Interceptors;
using MailGrpc.Server.GrpcApi;

namespace MailGrpc.Server.GrpcApi.Interceptors;

/// <summary>
/// Opens a logging scope for every MailGrpc call with the caller's tenant, the RPC and the mailbox id found in the request
/// (<c>mailbox_id</c>, or <c>mailbox.mailbox_id</c>), so every log line of the call can be traced to a mailbox. Runs after
/// authentication; ids only, never a request body.
/// </summary>
internal sealed class LogScopeInterceptor(ILogger<LogScopeInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        using var scope = BeginScope(request, context);
        return await continuation(request, context);
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var scope = BeginScope(request, context);
        await continuation(request, responseStream, context);
    }

    private IDisposable? BeginScope(object request, ServerCallContext context)
    {
        // Only MailGrpc's own services are authenticated (health and reflection are not), so only they have a tenant.
        if (!context.Method.StartsWith("/mailgrpc.v1.", StringComparison.Ordinal))
        {
            return null;
        }

        var state = new Dictionary<string, object?>(3, StringComparer.Ordinal)
        {
            ["Tenant"] = context.GetTenant(),
            ["Rpc"] = context.Method,
        };
        if (request is IMessage message && MailboxId(message) is { Length: > 0 } mailboxId)
        {
            state["MailboxId"] = mailboxId;
        }

        return logger.BeginScope(state);
    }

    internal static string? MailboxId(IMessage message)
    {
        var descriptor = message.Descriptor;
        if (descriptor.FindFieldByName("mailbox_id") is { FieldType: FieldType.String } direct)
        {
            return direct.Accessor.GetValue(message) as string;
        }

        return descriptor.FindFieldByName("mailbox") is { FieldType: FieldType.Message } nested && nested.Accessor.GetValue(message) is IMessage inner
            ? MailboxId(inner)
            : null;
    }
}
