using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Hosting;

/// <summary>
/// Ends streams cleanly on shutdown. After a stop signal, running streams may finish for most of
/// <c>MailGrpc:Shutdown:DrainTimeout</c>; shortly before it runs out (<see cref="NoticeBefore"/>), every stream still open is
/// cancelled through <see cref="Token"/> (the gRPC edge links it into every stream: <c>GrpcApi/Interceptors/DrainInterceptor</c>)
/// and ends with UNAVAILABLE <c>SERVER_DRAINING</c> and a resume hint — a status
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
