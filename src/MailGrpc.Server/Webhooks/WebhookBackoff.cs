namespace MailGrpc.Server.Webhooks;

/// <summary>
/// Exponential backoff with full jitter (the AWS Architecture Blog's "full jitter"): before retry <c>n</c> (1-based) wait
/// a uniformly random time in <c>[0, min(max, initial · 2^(n-1))]</c>. Randomising the whole delay spreads the retries of
/// many events to one recovering receiver instead of sending them in waves.
/// </summary>
internal static class WebhookBackoff
{
    /// <summary>The ceiling of the delay before retry <paramref name="retry"/> (1-based).</summary>
    public static TimeSpan Ceiling(int retry, TimeSpan initial, TimeSpan max)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retry, 1);
        // 2^(n-1) overflows past ~62; the cap is reached long before.
        var exponent = Math.Min(retry - 1, 40);
        var ticks = initial.Ticks * Math.Pow(2, exponent);
        return ticks >= max.Ticks ? max : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>The delay before retry <paramref name="retry"/>: uniform in [0, ceiling].</summary>
    public static TimeSpan Delay(int retry, TimeSpan initial, TimeSpan max, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return TimeSpan.FromTicks((long)(random.NextDouble() * Ceiling(retry, initial, max).Ticks));
    }
}
