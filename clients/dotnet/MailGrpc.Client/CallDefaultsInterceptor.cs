using Grpc.Core;
using Grpc.Core.Interceptors;

namespace MailGrpc.Client;

/// <summary>Adds the API key to every call and a deadline to calls that set none.</summary>
internal sealed class CallDefaultsInterceptor(string apiKey, TimeSpan unaryDeadline, TimeSpan? streamDeadline, TimeProvider time) : Interceptor
{
    internal const string ApiKeyHeader = "x-api-key";

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithDefaults(context, unaryDeadline));

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithDefaults(context, unaryDeadline));

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
        TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithDefaults(context, streamDeadline));

    private ClientInterceptorContext<TRequest, TResponse> WithDefaults<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, TimeSpan? deadline)
        where TRequest : class
        where TResponse : class
    {
        var options = context.Options;
        // A copy: the caller's Metadata may be shared between calls.
        var headers = new Metadata();
        foreach (var entry in options.Headers ?? [])
        {
            headers.Add(entry);
        }

        if (headers.Get(ApiKeyHeader) is null)
        {
            headers.Add(ApiKeyHeader, apiKey);
        }

        options = options.WithHeaders(headers);
        if (options.Deadline is null && deadline is { } span)
        {
            options = options.WithDeadline(time.GetUtcNow().UtcDateTime + span);
        }

        return new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, options);
    }
}
