using MailGrpc.Server.Webhooks;

namespace MailGrpc.Tests.Webhooks;

/// <summary>Exponential backoff with full jitter: the ceiling doubles per retry up to the cap, each delay is uniform in [0, ceiling].</summary>
[Trait("Layer", "Fast")]
public sealed class WebhookBackoffTests
{
    private static readonly TimeSpan Initial = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Max = TimeSpan.FromMinutes(5);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(9, 256)]
    [InlineData(10, 300)]
    [InlineData(1000, 300)]
    public void The_ceiling_doubles_per_retry_up_to_the_cap(int retry, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), WebhookBackoff.Ceiling(retry, Initial, Max));

    [Fact]
    public void Retry_numbers_start_at_one() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => WebhookBackoff.Ceiling(0, Initial, Max));

    [Fact]
    public void Delays_stay_within_zero_and_the_ceiling_and_spread_over_it()
    {
        var random = new Random(1234);
        foreach (var retry in new[] { 1, 3, 6, 12 })
        {
            var ceiling = WebhookBackoff.Ceiling(retry, Initial, Max);
            var delays = Enumerable.Range(0, 2000).Select(_ => WebhookBackoff.Delay(retry, Initial, Max, random)).ToList();
            Assert.All(delays, d => Assert.InRange(d, TimeSpan.Zero, ceiling));
            // Full jitter, not "ceiling ± a little": the delays cover the whole range, low quarter and high quarter alike.
            Assert.Contains(delays, d => d < ceiling / 4);
            Assert.Contains(delays, d => d > ceiling * 3 / 4);
            var mean = delays.Average(d => d.TotalMilliseconds);
            Assert.InRange(mean, ceiling.TotalMilliseconds * 0.45, ceiling.TotalMilliseconds * 0.55);
        }
    }
}
