using MailGrpc.Server.Configuration;
using MailGrpc.Server.Sync;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace MailGrpc.Tests.Sync;

/// <summary>Readiness says when the poll lag's p99 over the last minute exceeds the interval (on a fake clock).</summary>
[Trait("Layer", "Fast")]
public sealed class SyncReadinessTests : IAsyncDisposable
{
    private readonly SyncCore _core = new(new Dictionary<string, string?> { ["MailGrpc:Sync:DefaultInterval"] = "00:01:00" });

    public ValueTask DisposeAsync() => _core.DisposeAsync();

    private Task<HealthCheckResult> CheckAsync() =>
        new SyncLagHealthCheck(_core.Get<SyncMetrics>(), _core.Get<IOptions<SyncOptions>>()).CheckHealthAsync(new HealthCheckContext());

    [Fact]
    public async Task Lag_p99_above_the_interval_is_degraded_until_it_ages_out_of_the_window()
    {
        var metrics = _core.Get<SyncMetrics>();
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync()).Status);

        // 98 polls on time and 2 late by more than the interval: the p99 is a late one.
        for (var i = 0; i < 98; i++)
        {
            metrics.PollStarted(TimeSpan.FromMilliseconds(50));
        }

        Assert.Equal(HealthStatus.Healthy, (await CheckAsync()).Status);
        metrics.PollStarted(TimeSpan.FromSeconds(75));
        metrics.PollStarted(TimeSpan.FromSeconds(90));
        var degraded = await CheckAsync();
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Contains("exceeds the interval 60 s", degraded.Description, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(75), metrics.RecentLagP99());

        // A minute later those polls are out of the window; new ones on time make it ready again.
        _core.Clock.Advance(TimeSpan.FromSeconds(61));
        metrics.PollStarted(TimeSpan.FromMilliseconds(10));
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync()).Status);
        Assert.Equal(100 + 1, metrics.PollsStarted);
    }

    [Fact]
    public async Task With_the_engine_off_readiness_ignores_sync()
    {
        await using var off = new SyncCore(new Dictionary<string, string?> { ["MailGrpc:Sync:Enabled"] = "false" });
        off.Get<SyncMetrics>().PollStarted(TimeSpan.FromHours(1));
        var result = await new SyncLagHealthCheck(off.Get<SyncMetrics>(), off.Get<IOptions<SyncOptions>>()).CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Healthy, result.Status);
    }
}
