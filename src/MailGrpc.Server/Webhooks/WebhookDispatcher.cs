using System.Security.Cryptography;
using System.Text;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Events;
using MailGrpc.Server.Storage;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Webhooks;

/// <summary>
/// Spreads webhook delivery over the replicas: every <see cref="WebhookOptions.RefreshInterval"/> (jittered) a replica
/// looks at the deployment's endpoints and takes the lease of each one nobody holds, then runs its
/// <see cref="WebhookEndpointWorker"/> until the lease is lost, the endpoint deleted or the server stops. One holder per
/// endpoint keeps its per-mailbox order across replicas; a dead holder's lease runs out after
/// <see cref="WebhookOptions.LeaseTime"/> and another replica takes the endpoint over with its pending events.
/// Only endpoints of the tenants this server has API keys for are taken. Does nothing on the
/// embedded development store.
/// </summary>
internal sealed partial class WebhookDispatcher(
    WebhookManager manager,
    IStateStore store,
    Lazy<RedisEventLog> log,
    DeadLetterStore deadLetters,
    WebhookSender sender,
    WebhookMetrics metrics,
    IOptions<WebhookOptions> options,
    IOptions<EventOptions> eventOptions,
    IOptions<ApiKeysOptions> apiKeys,
    TimeProvider time,
    ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger<WebhookDispatcher>();
    private readonly Dictionary<string, Task> _workers = new(StringComparer.Ordinal);

    // The tenants this server has callers for (without API keys, the anonymous "default" tenant): replicas of one
    // deployment share their configuration, so every endpoint is served; servers of other deployments on the same
    // Redis never take each other's endpoints.
    private readonly HashSet<string> _tenants = apiKeys.Value.ApiKeys.Count == 0
        ? [Callers.CallerClaims.AnonymousTenant]
        : apiKeys.Value.ApiKeys.Select(k => k.Tenant).ToHashSet(StringComparer.Ordinal);

    /// <summary>This process's name as a consumer of the endpoints' groups and as their lease holder.</summary>
    public string Replica { get; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (store.IsEmbedded) return;
        var settings = options.Value;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await RefreshAsync(stoppingToken);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested && StoreConditions.Classify(e) is not null)
                {
                    LogRefreshFailed(_logger, e.GetType().Name);
                }

                // Jitter, so replicas started together do not race for every lease at the same instant.
                var jitter = TimeSpan.FromTicks((long)(Random.Shared.NextDouble() * settings.RefreshInterval.Ticks / 2));
                await Task.Delay(settings.RefreshInterval + jitter, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await Task.WhenAll(_workers.Values).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task RefreshAsync(CancellationToken stoppingToken)
    {
        foreach (var done in _workers.Where(w => w.Value.IsCompleted).Select(w => w.Key).ToList())
        {
            _workers.Remove(done);
        }

        foreach (var (tenant, id) in await manager.ListAllAsync(stoppingToken))
        {
            var key = tenant + "/" + id;
            if (_workers.ContainsKey(key) || !_tenants.Contains(tenant)) continue;
            if (!await store.SetIfAbsentAsync(WebhookKeys.Lease(tenant, id), Encoding.UTF8.GetBytes(Replica), options.Value.LeaseTime, stoppingToken)) continue;
            LogLeaseTaken(_logger, tenant, id);
            var worker = new WebhookEndpointWorker(tenant, id, Replica, manager, store, log.Value, deadLetters, sender, metrics, options.Value, eventOptions.Value, time, _logger);
            _workers[key] = Task.Run(() => RunWorkerAsync(worker, tenant, id, stoppingToken), CancellationToken.None);
        }
    }

    private async Task RunWorkerAsync(WebhookEndpointWorker worker, string tenant, string id, CancellationToken stoppingToken)
    {
        using var owned = worker;
        try
        {
            await worker.RunAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // The lease is released; this or another replica picks the endpoint up again at its next refresh.
            LogWorkerFailed(_logger, tenant, id, e.GetType().Name);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook {Tenant}/{EndpointId}: delivering from this replica.")]
    private static partial void LogLeaseTaken(ILogger logger, string tenant, string endpointId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook endpoints could not be listed ({Exception}); retrying.")]
    private static partial void LogRefreshFailed(ILogger logger, string exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Webhook {Tenant}/{EndpointId}: the delivery worker failed ({Exception}); it restarts at the next refresh.")]
    private static partial void LogWorkerFailed(ILogger logger, string tenant, string endpointId, string exception);
}
