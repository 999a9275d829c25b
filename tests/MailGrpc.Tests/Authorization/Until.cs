namespace MailGrpc.Tests.Authorization;

/// <summary>
/// Condition waits for the token tests: a token's expiry, a state's lifetime or a provider's Retry-After is a moment
/// on the wall clock, so the tests wait until that moment has passed (polling) instead of sleeping a guessed time.
/// </summary>
internal static class Until
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);

    /// <summary>Returns once the wall clock is past <paramref name="moment"/>.</summary>
    public static async Task PassedAsync(DateTimeOffset moment)
    {
        while (DateTimeOffset.UtcNow <= moment)
        {
            await Task.Delay(Poll);
        }
    }

    /// <summary>Polls <paramref name="probe"/> until <paramref name="done"/> holds or <paramref name="timeout"/> passes; returns the last value.</summary>
    public static async Task<T> TrueAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            var value = await probe();
            if (done(value) || DateTimeOffset.UtcNow > deadline)
            {
                return value;
            }

            await Task.Delay(Poll);
        }
    }
}
