using Grpc.Core;
using Grpc.Core.Interceptors;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Hosting;

namespace MailGrpc.Server.GrpcApi.Interceptors;

/// <summary>
/// Links <see cref="ServerDrain.Token"/> into the cancellation token every server-streaming handler sees, and turns the
/// cancellation it causes into UNAVAILABLE <c>SERVER_DRAINING</c> (metadata <c>resume=only_unacknowledged</c>).
/// </summary>
internal sealed class DrainInterceptor(ServerDrain drain) : Interceptor
{
    private const string HttpContextKey = "__HttpContext";

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.Token);

        // GetHttpContext() on a context that is not Grpc.AspNetCore's own looks the HttpContext up in UserState.
        context.UserState[HttpContextKey] = context.GetHttpContext();
        try
        {
            await continuation(request, new UncancelledWriter<TResponse>(responseStream, context.CancellationToken, drain.Token), new DrainingCallContext(context, linked.Token));
        }
        catch (Exception ex) when (drain.Token.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested && ex is not MailGrpcException { Reason: not ErrorReasons.Cancelled })
        {
            throw Draining(ex);
        }

        if (drain.Token.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested && linked.IsCancellationRequested)
        {
            // A handler that returned quietly on cancellation: the caller must still learn it did not get everything.
            throw Draining(null);
        }
    }

    private static MailGrpcException Draining(Exception? inner) => Failures.ServerDraining(inner);

    /// <summary>
    /// Writes with the call's own token, not the drain's: cancelling a write half-way resets the HTTP/2 stream (no status),
    /// so a drain stops the handler between frames instead — the next write after it throws.
    /// </summary>
    private sealed class UncancelledWriter<T>(IServerStreamWriter<T> inner, CancellationToken callAborted, CancellationToken draining) : IServerStreamWriter<T>
    {
        public WriteOptions? WriteOptions
        {
            get => inner.WriteOptions;
            set => inner.WriteOptions = value;
        }

        public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

        public Task WriteAsync(T message, CancellationToken cancellationToken)
        {
            draining.ThrowIfCancellationRequested();
            return inner.WriteAsync(message, callAborted);
        }
    }

    /// <summary>The call's context with another cancellation token; everything else is the original's.</summary>
    private sealed class DrainingCallContext(ServerCallContext inner, CancellationToken token) : ServerCallContext
    {
        protected override string MethodCore => inner.Method;

        protected override string HostCore => inner.Host;

        protected override string PeerCore => inner.Peer;

        protected override DateTime DeadlineCore => inner.Deadline;

        protected override Metadata RequestHeadersCore => inner.RequestHeaders;

        protected override CancellationToken CancellationTokenCore => token;

        protected override Metadata ResponseTrailersCore => inner.ResponseTrailers;

        protected override Status StatusCore
        {
            get => inner.Status;
            set => inner.Status = value;
        }

        protected override WriteOptions? WriteOptionsCore
        {
            get => inner.WriteOptions;
            set => inner.WriteOptions = value;
        }

        protected override AuthContext AuthContextCore => inner.AuthContext;

        protected override IDictionary<object, object> UserStateCore => inner.UserState;

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => inner.CreatePropagationToken(options);

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => inner.WriteResponseHeadersAsync(responseHeaders);
    }
}
