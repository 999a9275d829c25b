using Grpc.Core;
using Grpc.Core.Interceptors;
using MailGrpc.Server.Errors;

namespace MailGrpc.Server.GrpcApi.Interceptors;

/// <summary>Turns every exception thrown by a gRPC handler into a rich status, through <see cref="ExceptionMapper"/>.</summary>
internal sealed partial class ErrorInterceptor(ILogger<ErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            throw Map(ex, context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception ex) when (ex is not RpcException)
        {
            throw Map(ex, context);
        }
    }

    private RpcException Map(Exception ex, ServerCallContext context)
    {
        var error = ExceptionMapper.Classify(ex, context.CancellationToken);
        if (error.Kind == ErrorKind.Internal)
        {
            // Only types and stack frames are logged: a message may quote protocol text or a URL with a secret in it.
            LogUnexpected(logger, context.Method, DescribeWithoutMessages(ex));
        }
        else
        {
            // The store condition (CLUSTERDOWN, LOADING, …) tells an operator why Redis could not answer.
            error.Metadata.TryGetValue(ExceptionMapper.StoreConditionKey, out var condition);
            LogMapped(logger, context.Method, error.Kind, error.Reason, condition ?? string.Empty);
        }

        return ExceptionMapper.ToRpcException(error);
    }

    private static string DescribeWithoutMessages(Exception ex)
    {
        var parts = new List<string>();
        for (var current = ex; current is not null; current = current.InnerException)
        {
            parts.Add($"{current.GetType().FullName}{Environment.NewLine}{current.StackTrace}");
        }

        return string.Join(Environment.NewLine + " ---> ", parts);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unexpected error in {Method}: {Exception}")]
    private static partial void LogUnexpected(ILogger logger, string method, string exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} failed with {StatusCode} {Reason} {StoreCondition}")]
    private static partial void LogMapped(ILogger logger, string method, ErrorKind statusCode, string reason, string storeCondition);
}
