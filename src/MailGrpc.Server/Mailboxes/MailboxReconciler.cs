using System.Diagnostics.Metrics;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Storage;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Mailboxes;

/// <summary>What one reconciler pass repaired, and whether it finished a whole scan of the keyspace.</summary>
internal sealed record ReconcileResult(int Examined, int IndexAdded, int IndexRemoved, int DeletionsFinished, int OrphansRemoved, bool ScanCompleted)
{
    public int Repairs => IndexAdded + IndexRemoved + DeletionsFinished + OrphansRemoved;
}

/// <summary>
/// Repairs what a crash (of a replica, or of a Redis master before it replicated) left half-done across slots: mailboxes
/// missing from their tenant's index, index entries without a mailbox, deletions that stopped after the mark, and keys of
/// mailboxes that no longer exist (a credential, ledgers). Each pass examines at most <c>Redis:ReconcileBatchSize</c>
/// keys with SCAN, master by master on a cluster, and the next pass goes on from there. Every repair is idempotent, so
/// replicas running it at once do no harm. Repairs are counted in <c>mailgrpc_reconciler_repairs_total{repair}</c>.
/// </summary>
internal sealed partial class MailboxReconciler : BackgroundService
{
    private const string KeyPrefix = "mailgrpc:{";
    private const string MailboxTagStart = "mailgrpc:{mbx:";
    private const string TenantTagStart = "mailgrpc:{tenant:";
    private const int IndexPage = 200;

    // A delete normally finishes within a second of its mark; leave younger marks to the call that is finishing them.
    private static readonly TimeSpan DeletionGrace = TimeSpan.FromSeconds(10);

    private readonly IStateStore _store;
    private readonly MailboxRepository _repository;
    private readonly IOptions<RedisOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<MailboxReconciler> _logger;
    private readonly Counter<long> _repairs;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string _cursor = string.Empty;

    public MailboxReconciler(IStateStore store, MailboxRepository repository, IOptions<RedisOptions> options, TimeProvider time, IMeterFactory meters, ILogger<MailboxReconciler> logger)
    {
        _store = store;
        _repository = repository;
        _options = options;
        _time = time;
        _logger = logger;
        _repairs = meters.Create(MailGrpcMetrics.MeterName).CreateCounter<long>(
            "mailgrpc.reconciler.repairs", "{repair}", "Half-done state repaired by the reconciler, by repair (index_added, index_removed, deletion_finished, orphan_removed).");
    }

    /// <summary>One bounded pass (also called by tests and operators' tooling); continues the scan where the last one stopped.</summary>
    public async Task<ReconcileResult> RunPassAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await RunPassLockedAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Passes until one whole scan of the keyspace is done; the sum of their repairs.</summary>
    public async Task<ReconcileResult> RunFullScanAsync(CancellationToken cancellationToken)
    {
        var total = new ReconcileResult(0, 0, 0, 0, 0, false);
        _cursor = string.Empty;
        while (true)
        {
            var pass = await RunPassAsync(cancellationToken);
            total = new ReconcileResult(
                total.Examined + pass.Examined, total.IndexAdded + pass.IndexAdded, total.IndexRemoved + pass.IndexRemoved,
                total.DeletionsFinished + pass.DeletionsFinished, total.OrphansRemoved + pass.OrphansRemoved, pass.ScanCompleted);
            if (pass.ScanCompleted)
            {
                return total;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.Value.ReconcileInterval, _time, stoppingToken);
                var result = await RunPassAsync(stoppingToken);
                if (result.Repairs > 0)
                {
                    LogRepaired(_logger, result.IndexAdded, result.IndexRemoved, result.DeletionsFinished, result.OrphansRemoved);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (StoreConditions.Classify(ex) is { } condition)
            {
                // The store is failing over or unreachable: the next pass tries again.
                LogStoreUnavailable(_logger, condition);
            }
        }
    }

    private async Task<ReconcileResult> RunPassLockedAsync(CancellationToken cancellationToken)
    {
        var budget = Math.Max(10, _options.Value.ReconcileBatchSize);
        int examined = 0, indexAdded = 0, indexRemoved = 0, deletionsFinished = 0, orphansRemoved = 0;
        var seen = new HashSet<(string Tenant, string Id)>();
        var completed = false;
        while (examined < budget)
        {
            var page = await _store.ScanAsync(KeyPrefix + "*", _cursor, Math.Min(250, budget), cancellationToken);
            _cursor = page.Cursor;
            foreach (var key in page.Keys)
            {
                examined++;
                if (TryParseMailboxKey(key, out var tenant, out var id, out var suffix))
                {
                    if (suffix is "refresh-lock" or "pop3-lease" || !seen.Add((tenant, id)))
                    {
                        continue; // Leases and locks expire on their own.
                    }

                    var stored = await _repository.GetStoredAsync(tenant, id, cancellationToken);
                    if (stored is null or { DeletedAt: not null })
                    {
                        // Gone, or a tombstone (which expires on its own): any other key of the mailbox is an orphan.
                        if (suffix != "mailbox")
                        {
                            await _repository.FinishDeleteAsync(tenant, id, revokedAtProvider: null, cancellationToken);
                            orphansRemoved++;
                            Count("orphan_removed");
                        }
                    }
                    else if (stored.DeletingSince is { } since)
                    {
                        if (_time.GetUtcNow() - since >= DeletionGrace)
                        {
                            await _repository.FinishDeleteAsync(tenant, id, revokedAtProvider: null, cancellationToken);
                            deletionsFinished++;
                            Count("deletion_finished");
                        }
                    }
                    else if (!await _store.IndexContainsAsync(StoreKeys.TenantMailboxes(tenant), id, cancellationToken))
                    {
                        await _store.IndexAddAsync(StoreKeys.TenantMailboxes(tenant), id, cancellationToken);
                        indexAdded++;
                        Count("index_added");
                    }
                }
                else if (TryParseTenantIndexKey(key, out var indexTenant))
                {
                    string? after = null;
                    while (true)
                    {
                        var ids = await _store.IndexRangeAsync(key, after, IndexPage, cancellationToken);
                        examined += ids.Count;
                        foreach (var member in ids)
                        {
                            // Only an entry whose document is gone (or a tombstone) is stale; a create writes the document before the entry.
                            if (await _repository.GetStoredAsync(indexTenant, member, cancellationToken) is null or { DeletedAt: not null })
                            {
                                await _store.IndexRemoveAsync(key, member, cancellationToken);
                                indexRemoved++;
                                Count("index_removed");
                            }
                        }

                        if (ids.Count < IndexPage)
                        {
                            break;
                        }

                        after = ids[^1];
                    }
                }
            }

            if (page.Cursor.Length == 0)
            {
                completed = true;
                break;
            }
        }

        return new ReconcileResult(examined, indexAdded, indexRemoved, deletionsFinished, orphansRemoved, completed);
    }

    private void Count(string repair) => _repairs.Add(1, new KeyValuePair<string, object?>("repair", repair));

    // mailgrpc:{mbx:<tenant>:<id>}:<suffix> — tenant and mailbox ids never hold ':' or braces.
    private static bool TryParseMailboxKey(string key, out string tenant, out string id, out string suffix)
    {
        tenant = id = suffix = string.Empty;
        if (!key.StartsWith(MailboxTagStart, StringComparison.Ordinal))
        {
            return false;
        }

        var close = key.IndexOf("}:", MailboxTagStart.Length, StringComparison.Ordinal);
        if (close < 0)
        {
            return false;
        }

        var tag = key.AsSpan(MailboxTagStart.Length, close - MailboxTagStart.Length);
        var colon = tag.IndexOf(':');
        if (colon <= 0 || colon == tag.Length - 1)
        {
            return false;
        }

        tenant = tag[..colon].ToString();
        id = tag[(colon + 1)..].ToString();
        suffix = key[(close + 2)..];
        var ack = suffix.IndexOf(':', StringComparison.Ordinal);
        if (ack > 0)
        {
            suffix = suffix[..ack];
        }

        return true;
    }

    // mailgrpc:{tenant:<tenant>}:mailboxes
    private static bool TryParseTenantIndexKey(string key, out string tenant)
    {
        tenant = string.Empty;
        const string End = "}:mailboxes";
        if (!key.StartsWith(TenantTagStart, StringComparison.Ordinal) || !key.EndsWith(End, StringComparison.Ordinal))
        {
            return false;
        }

        tenant = key[TenantTagStart.Length..^End.Length];
        return tenant.Length > 0;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconciler repaired half-done state: {IndexAdded} index entries added, {IndexRemoved} removed, {DeletionsFinished} deletions finished, {OrphansRemoved} orphaned mailboxes' keys removed.")]
    private static partial void LogRepaired(ILogger logger, int indexAdded, int indexRemoved, int deletionsFinished, int orphansRemoved);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconciler pass skipped: the state store is unavailable ({StoreCondition}).")]
    private static partial void LogStoreUnavailable(ILogger logger, string storeCondition);
}
