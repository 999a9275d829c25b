using MailGrpc.Server.Configuration;
using MailGrpc.Server.Storage;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MailGrpc.Server.Authorization.Secrets;

/// <summary>What one sweep did (counts only: no tenant or mailbox names are logged).</summary>
internal sealed record ReencryptionSweepResult(int Mailboxes, int Reencrypted, int Unreadable);

/// <summary>
/// With <c>MailGrpc:Encryption:ReencryptOnStart=true</c>, walks every stored mailbox secret once after start (in the
/// background; the server serves meanwhile) and re-encrypts what is not under the active key, through
/// <see cref="CredentialStore.ReencryptAsync"/> (compare-and-set, so a concurrent refresh wins). It finds the secrets by
/// SCAN over every Redis primary for <c>mailgrpc:{mbx:*}:credential</c> and <c>…:msal</c>, so it needs no tenant list and
/// also reaches mailboxes whose tenant has no API key any more. Several replicas sweeping at once only repeat work.
/// The embedded store starts empty, so there it has nothing to do. Pending authorizations are not swept: they expire
/// within <c>PendingAuthorizationLifetime</c> + 1 h.
/// </summary>
internal sealed partial class ReencryptionSweep(
    IServiceProvider services,
    IStateStore store,
    CredentialStore credentials,
    SecretProtector protector,
    IOptions<EncryptionOptions> options,
    ILogger<ReencryptionSweep> logger) : BackgroundService
{
    private const string KeyPrefix = "mailgrpc:{mbx:";
    private readonly TaskCompletionSource<ReencryptionSweepResult?> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The outcome of the start-up sweep: null when it is off or had nothing to sweep.</summary>
    public Task<ReencryptionSweepResult?> Completion => _completion.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.ReencryptOnStart || store.IsEmbedded)
        {
            if (options.Value.ReencryptOnStart)
            {
                LogEmbedded(logger);
            }

            _completion.TrySetResult(null);
            return;
        }

        try
        {
            var result = await SweepAsync(services.GetRequiredService<IConnectionMultiplexer>(), stoppingToken);
            LogDone(logger, result.Mailboxes, result.Reencrypted, protector.ActiveKeyId, result.Unreadable);
            _completion.TrySetResult(result);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            _completion.TrySetCanceled(stoppingToken);
        }
        catch (Exception ex)
        {
            // The sweep can simply run again at the next start; lazy re-encryption on read keeps working meanwhile.
            LogFailed(logger, ex);
            _completion.TrySetException(ex);
        }
    }

    public async Task<ReencryptionSweepResult> SweepAsync(IConnectionMultiplexer redis, CancellationToken cancellationToken)
    {
        LogStarted(logger, protector.ActiveKeyId);
        while (!redis.IsConnected)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }

        var seen = new HashSet<(string Tenant, string MailboxId)>();
        int reencrypted = 0, unreadable = 0;
        foreach (var server in redis.GetServers().Where(s => s.IsConnected && !s.IsReplica))
        {
            foreach (var suffix in new[] { ":credential", ":msal" })
            {
                await foreach (var key in server.KeysAsync(pattern: KeyPrefix + "*}" + suffix, pageSize: 500).WithCancellation(cancellationToken))
                {
                    if (!TryParse(key.ToString(), suffix, out var mailbox) || !seen.Add(mailbox))
                    {
                        continue;
                    }

                    try
                    {
                        if (await credentials.ReencryptAsync(mailbox.Tenant, mailbox.MailboxId, cancellationToken))
                        {
                            reencrypted++;
                        }
                    }
                    catch (SecretUnreadableException)
                    {
                        // Its key is no longer configured (or it was tampered with): only a new authorization helps.
                        unreadable++;
                    }
                }
            }
        }

        return new ReencryptionSweepResult(seen.Count, reencrypted, unreadable);
    }

    /// <summary><c>mailgrpc:{mbx:&lt;tenant&gt;:&lt;id&gt;}&lt;suffix&gt;</c>; tenants and ids contain neither ':' nor braces.</summary>
    private static bool TryParse(string key, string suffix, out (string Tenant, string MailboxId) mailbox)
    {
        mailbox = default;
        if (!key.StartsWith(KeyPrefix, StringComparison.Ordinal) || !key.EndsWith("}" + suffix, StringComparison.Ordinal))
        {
            return false;
        }

        var inner = key[KeyPrefix.Length..^(suffix.Length + 1)];
        var colon = inner.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == inner.Length - 1 || inner.IndexOf(':', colon + 1) >= 0 || inner.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            return false;
        }

        mailbox = (inner[..colon], inner[(colon + 1)..]);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-encryption sweep started (active key {KeyId})")]
    private static partial void LogStarted(ILogger logger, string keyId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-encryption sweep done: {Mailboxes} mailboxes with secrets, {Reencrypted} re-encrypted under key {KeyId}, {Unreadable} unreadable (their key is gone: authorize them again)")]
    private static partial void LogDone(ILogger logger, int mailboxes, int reencrypted, string keyId, int unreadable);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MailGrpc:Encryption:ReencryptOnStart is set but the store is the embedded one, which starts empty: nothing to re-encrypt")]
    private static partial void LogEmbedded(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "Re-encryption sweep failed; secrets are still re-encrypted lazily when read")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
