using System.Security.Cryptography;
using System.Text;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Storage;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Pop3;

/// <summary>
/// One POP3 session per mailbox across all replicas: a lease in the state store (<see cref="StoreKeys.Pop3Lease"/>) taken
/// before connecting, renewed while the session lives and released after it ends. A crashed holder frees it after
/// <see cref="Pop3Options.LeaseTime"/>.
/// </summary>
internal sealed partial class Pop3LeaseManager(IStateStore store, IOptions<Pop3Options> options, TimeProvider time, MailGrpcMetrics metrics, ILogger<Pop3LeaseManager> logger)
{
    private static readonly TimeSpan MinPoll = TimeSpan.FromMilliseconds(25);
    private static readonly TimeSpan MaxPoll = TimeSpan.FromMilliseconds(250);

    /// <summary>Takes the mailbox's lease, waiting up to LeaseWait; UNAVAILABLE MAILBOX_BUSY after that.</summary>
    public Task<Pop3Lease> AcquireAsync(string tenant, string mailboxId, CancellationToken cancellationToken) => AcquireAsync(tenant, mailboxId, null, cancellationToken);

    /// <summary>Takes the mailbox's lease, waiting up to <paramref name="wait"/> (null: LeaseWait); UNAVAILABLE MAILBOX_BUSY after that.</summary>
    public async Task<Pop3Lease> AcquireAsync(string tenant, string mailboxId, TimeSpan? wait, CancellationToken cancellationToken)
    {
        var pop3 = options.Value;
        var key = StoreKeys.Pop3Lease(tenant, mailboxId);
        var token = Encoding.ASCII.GetBytes($"{Environment.MachineName}:{Environment.ProcessId}:{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))}");
        var deadline = time.GetUtcNow() + (wait ?? pop3.LeaseWait);
        var poll = MinPoll;
        var started = time.GetTimestamp();
        try
        {
            return await AcquireLoopAsync();
        }
        catch (OperationCanceledException)
        {
            metrics.LeaseWaited(time.GetElapsedTime(started), "cancelled");
            throw;
        }

        async Task<Pop3Lease> AcquireLoopAsync()
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();

                // Never abandon a SET NX half-way: a cancelled wait could leave a lease nobody releases until it expires.
                if (await store.SetIfAbsentAsync(key, token, pop3.LeaseTime, CancellationToken.None))
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        await store.DeleteIfEqualAsync(key, token, CancellationToken.None);
                        cancellationToken.ThrowIfCancellationRequested();
                    }

                    metrics.LeaseWaited(time.GetElapsedTime(started), "acquired");
                    return new Pop3Lease(this, key, token, pop3.LeaseTime);
                }

                var left = deadline - time.GetUtcNow();
                if (left <= TimeSpan.Zero)
                {
                    LogBusy(logger, mailboxId);
                    metrics.LeaseWaited(time.GetElapsedTime(started), "busy");
                    throw Failures.MailboxBusy(mailboxId);
                }

                // Jitter spreads replicas that wait for the same lease.
                var delay = TimeSpan.FromMilliseconds(Math.Min(left.TotalMilliseconds, poll.TotalMilliseconds * (0.75 + (Random.Shared.NextDouble() / 2))));
                await Task.Delay(delay, time, cancellationToken);
                poll = TimeSpan.FromTicks(Math.Min(MaxPoll.Ticks, poll.Ticks * 2));
            }
        }
    }

    private async Task RenewLoopAsync(Pop3Lease lease, CancellationToken stop)
    {
        var interval = lease.LeaseTime / 3;
        var renewedAt = time.GetUtcNow();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, time, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                if (!await store.RenewIfEqualAsync(lease.Key, lease.Token, lease.LeaseTime, stop))
                {
                    LogLost(logger, lease.Key);
                    lease.MarkLost();
                    return;
                }

                renewedAt = time.GetUtcNow();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A store hiccup is retried until the lease would have expired.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogRenewFailed(logger, ex, lease.Key);
                if (time.GetUtcNow() - renewedAt >= lease.LeaseTime - interval)
                {
                    lease.MarkLost();
                    return;
                }
            }
        }
    }

    private async Task ReleaseAsync(Pop3Lease lease)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await store.DeleteIfEqualAsync(lease.Key, lease.Token, timeout.Token);
        }
#pragma warning disable CA1031 // Releasing is best effort: the lease expires on its own.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogReleaseFailed(logger, ex, lease.Key);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "POP3 session of mailbox {MailboxId} is busy; giving up waiting")]
    private static partial void LogBusy(ILogger logger, string mailboxId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "POP3 lease {Key} was lost; ending the session")]
    private static partial void LogLost(ILogger logger, string key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Renewing POP3 lease {Key} failed")]
    private static partial void LogRenewFailed(ILogger logger, Exception exception, string key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Releasing POP3 lease {Key} failed; it expires on its own")]
    private static partial void LogReleaseFailed(ILogger logger, Exception exception, string key);

    /// <summary>A held lease. <see cref="Lost"/> fires when renewal fails; disposing releases it.</summary>
    internal sealed class Pop3Lease : IAsyncDisposable
    {
        private readonly Pop3LeaseManager _owner;
        private readonly CancellationTokenSource _lost = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _renewal;
        private int _disposed;

        public Pop3Lease(Pop3LeaseManager owner, string key, byte[] token, TimeSpan leaseTime)
        {
            _owner = owner;
            Key = key;
            Token = token;
            LeaseTime = leaseTime;
            _renewal = owner.RenewLoopAsync(this, _stop.Token);
        }

        public string Key { get; }

        public byte[] Token { get; }

        public TimeSpan LeaseTime { get; }

        /// <summary>Cancelled when the lease could not be kept; the session must stop at once.</summary>
        public CancellationToken Lost => _lost.Token;

        internal void MarkLost() => _lost.Cancel();

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            await _stop.CancelAsync();
            await _renewal;
            if (!_lost.IsCancellationRequested)
            {
                await _owner.ReleaseAsync(this);
            }

            _stop.Dispose();
            _lost.Dispose();
        }
    }
}
