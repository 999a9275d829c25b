namespace MailGrpc.Tests.Infrastructure;

/// <summary>
/// A fixed rate for what a test deliberately runs slowly — a slow reader, a readiness sampler, a client's retry
/// pacing. It is the behaviour under test or a sampling rate, never a wait for something to happen (that is
/// <see cref="Eventually"/>).
/// </summary>
public sealed class Pace(TimeSpan interval) : IDisposable
{
    private readonly PeriodicTimer _timer = new(interval);

    /// <summary>Returns at the next tick.</summary>
    public async Task NextAsync(CancellationToken cancellationToken = default) => await _timer.WaitForNextTickAsync(cancellationToken);

    public void Dispose() => _timer.Dispose();
}
