using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MailGrpc.Server.Storage;

/// <summary>Healthy when the state store answers; gRPC health reports NOT_SERVING otherwise.</summary>
internal sealed class StateStoreHealthCheck(IStateStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            return await store.PingAsync(timeout.Token)
                ? HealthCheckResult.Healthy(store.IsEmbedded ? "embedded store" : "redis")
                : HealthCheckResult.Unhealthy("The state store does not answer.");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("The state store timed out.");
        }
    }
}
