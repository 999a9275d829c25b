namespace MailGrpc.Tests.Infrastructure;

/// <summary>
/// Condition waits: the one way a test waits for something to happen (tests never sleep a fixed time). Polls the
/// condition, backing off from 5 ms to 100 ms, until it holds or the timeout passes; then it fails with the
/// description of what was awaited (and the last exception the condition threw, if any).
/// </summary>
public static class Eventually
{
    /// <summary>Waits until <paramref name="condition"/> returns true.</summary>
    public static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string? what = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var deadline = DateTime.UtcNow + timeout;
        var pause = TimeSpan.FromMilliseconds(5);
        Exception? last = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                if (await condition())
                {
                    return;
                }

                last = null;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                last = e;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting for {what ?? "a condition"}." + (last is null ? string.Empty : $" Last error: {last.GetType().Name}: {last.Message}"), last);
            }

            // A poll interval, not a sleep standing in for a condition: the loop ends as soon as the condition holds.
            await Task.Delay(pause < left ? pause : left, cancellationToken);
            pause = TimeSpan.FromMilliseconds(Math.Min(100, pause.TotalMilliseconds * 2));
        }
    }

    /// <summary>Waits until <paramref name="condition"/> returns true.</summary>
    public static Task WaitAsync(Func<bool> condition, TimeSpan timeout, string? what = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return WaitAsync(() => Task.FromResult(condition()), timeout, what, cancellationToken);
    }

    /// <summary>Waits until <paramref name="probe"/> returns a value that is not null and returns it.</summary>
    public static async Task<T> ValueAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string? what = null, CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(probe);
        T? value = null;
        await WaitAsync(async () => (value = await probe()) is not null, timeout, what, cancellationToken);
        return value!;
    }

    /// <summary>Waits until <paramref name="assertion"/> stops throwing (xunit asserts inside); rethrows its last failure on timeout.</summary>
    public static async Task AssertAsync(Func<Task> assertion, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(assertion);
        try
        {
            await WaitAsync(async () => { await assertion(); return true; }, timeout, "an assertion to hold", cancellationToken);
        }
        catch (TimeoutException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    /// <summary>A synchronous wait for code that cannot be async (fixture constructors, file locks).</summary>
    public static void Wait(Func<bool> condition, TimeSpan timeout, string? what = null) =>
        WaitAsync(condition, timeout, what).GetAwaiter().GetResult();
}
