using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MailGrpc.Server.Storage;

/// <summary>
/// Healthy while the state store can serve the mailbox keyspace (not only answer PING): gRPC health (readiness) reports
/// NOT_SERVING during a Redis Cluster failover, while a master is suspected down, while a node loads its data, and when
/// Redis is unreachable; SERVING again as soon as every slot is served. The condition is logged when it changes.
/// </summary>
internal sealed partial class StateStoreHealthCheck(IStateStore store, ILogger<StateStoreHealthCheck> logger) : IHealthCheck
{
    private string? _lastProblem;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        string? problem;
        try
        {
            problem = await store.ServingProblemAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            problem = "TIMEOUT";
        }

        var previous = Interlocked.Exchange(ref _lastProblem, problem);
        if (previous != problem)
        {
            if (problem is null)
            {
                LogServing(logger, previous ?? string.Empty);
            }
            else
            {
                LogNotServing(logger, problem);
            }
        }

        return problem is null
            ? HealthCheckResult.Healthy(store.IsEmbedded ? "embedded store" : "redis")
            : HealthCheckResult.Unhealthy($"The state store cannot serve the mailbox keyspace: {problem}.");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Readiness NOT_SERVING: the state store cannot serve the mailbox keyspace ({StoreCondition}).")]
    private static partial void LogNotServing(ILogger logger, string storeCondition);

    [LoggerMessage(Level = LogLevel.Information, Message = "Readiness SERVING again: the state store serves the mailbox keyspace (was {StoreCondition}).")]
    private static partial void LogServing(ILogger logger, string storeCondition);
}
