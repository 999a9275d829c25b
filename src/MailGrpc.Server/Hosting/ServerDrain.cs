using Grpc.Core;
using Grpc.Core.Interceptors;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Hosting;

/// <summary>
/// Ends streams cleanly on shutdown. After a stop signal, running streams may finish for most of
/// <c>MailGrpc:Shutdown:DrainTimeout</c>; shortly before it runs out (<see cref="NoticeBefore"/>), every stream still open is
/// cancelled through <see cref="Token"/> and ends with UNAVAILABLE <c>SERVER_DRAINING</c> and a resume hint — a status
/// clients retry on — instead of being reset by the host without one.
/// </summary>
internal sealed partial class ServerDrain(IHostApplicationLifetime lifetime, IOptions<ShutdownOptions> options, TimeProvider time, ILogger<ServerDrain> logger) : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _draining = new();
    private CancellationTokenRegistration _stopping;
    private ITimer? _timer;

    /// <summary>Cancelled when open streams must end.</summary>
    public CancellationToken Token => _draining.Token;

    /// <summary>How long before the drain deadline streams are told to end: a quarter of it, at most 3 s.</summary>
    public TimeSpan NoticeBefore => TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(3).Ticks, options.Value.DrainTimeout.Ticks / 4));

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _stopping = lifetime.ApplicationStopping.Register(() =>
        {
            var after = options.Value.DrainTimeout - NoticeBefore;
            _timer = time.CreateTimer(_ => EndStreams(), null, after < TimeSpan.Zero ? TimeSpan.Zero : after, Timeout.InfiniteTimeSpan);
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        _stopping.Dispose();
        _timer?.Dispose();
        _draining.Dispose();
    }

    private void EndStreams()
    {
        LogEndingStreams(logger, NoticeBefore);
        _draining.Cancel();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Drain: {Notice} before DrainTimeout, open streams end with UNAVAILABLE SERVER_DRAINING.")]
    private static partial void LogEndingStreams(ILogger logger, TimeSpan notice);
}

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
        catch (Exception ex) when (drain.Token.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested && ex is not MailGrpcException { Kind: not ErrorKind.Cancelled })
        {
            throw Draining(ex);
        }

        if (drain.Token.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested && linked.IsCancellationRequested)
        {
            // A handler that returned quietly on cancellation: the caller must still learn it did not get everything.
            throw Draining(null);
        }
    }

    private static MailGrpcException Draining(Exception? inner) => new(
        ErrorKind.Unavailable,
        ErrorReasons.ServerDraining,
        "The server is shutting down; call again (another replica serves it) with only_unacknowledged to resume where this stream stopped.",
        new Dictionary<string, string> { ["resume"] = "only_unacknowledged" },
        inner);

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
