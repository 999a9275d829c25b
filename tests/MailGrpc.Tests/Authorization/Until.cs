using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Authorization;

/// <summary>
/// Condition waits for the token tests: a token's expiry, a state's lifetime or a provider's Retry-After is a moment
/// on the wall clock, so the tests wait until that moment has passed (a condition, through <see cref="Eventually"/>)
/// instead of sleeping a guessed time.
/// </summary>
internal static class Until
{
    /// <summary>Returns once the wall clock is past <paramref name="moment"/>.</summary>
    public static Task PassedAsync(DateTimeOffset moment) =>
        Eventually.WaitAsync(() => DateTimeOffset.UtcNow > moment, (moment - DateTimeOffset.UtcNow).Duration() + TimeSpan.FromSeconds(30), $"the clock to pass {moment:O}");

    /// <summary>Polls <paramref name="probe"/> until <paramref name="done"/> holds or <paramref name="timeout"/> passes; returns the last value.</summary>
    public static async Task<T> TrueAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout)
    {
        var value = await probe();
        try
        {
            await Eventually.WaitAsync(async () => done(value = await probe()), timeout);
        }
        catch (TimeoutException)
        {
            // The caller asserts on the last value, which says what did not happen.
        }

        return value;
    }
}
