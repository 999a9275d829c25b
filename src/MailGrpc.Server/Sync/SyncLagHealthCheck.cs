using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Sync;

/// <summary>
/// Readiness of the sync engine: Degraded while the p99 of the last minute's poll lags exceeds the default interval
/// (polls fall behind their schedule: add replicas or poll slots). Degraded keeps gRPC health SERVING — the replica still
/// serves every RPC — and names the lag in the health report.
/// </summary>
internal sealed class SyncLagHealthCheck(SyncMetrics metrics, IOptions<SyncOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var sync = options.Value;
        if (!sync.Enabled || !sync.LagAffectsReadiness)
        {
            return Task.FromResult(HealthCheckResult.Healthy("sync engine off"));
        }

        var p99 = metrics.RecentLagP99();
        return Task.FromResult(p99 is { } lag && lag > sync.DefaultInterval
            ? HealthCheckResult.Degraded($"Sync poll lag p99 {lag.TotalSeconds:0.#} s exceeds the interval {sync.DefaultInterval.TotalSeconds:0.#} s; backlog {metrics.Backlog}.")
            : HealthCheckResult.Healthy($"sync lag p99 {(p99 ?? TimeSpan.Zero).TotalSeconds:0.#} s"));
    }
}
