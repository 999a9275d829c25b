using MailKit;
using MailKit.Net.Pop3;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Telemetry;

namespace MailGrpc.Server.Pop3;

/// <summary>One message on the server, as listed in this session.</summary>
internal readonly record struct Pop3Entry(int Index, string Uid, long Size);

/// <summary>
/// One authenticated POP3 session, owned by one call: the MailKit client (never shared; MailKit is not thread-safe) and the
/// mailbox's lease. Every command runs under the call's token and the lease's <c>Lost</c> token. Disposing closes the
/// connection and then releases the lease, so no session outlives its lease.
/// <para>
/// Only <see cref="CommitAsync"/> sends QUIT. A session that reads ends by closing the connection: RFC 1939 gives a
/// session without QUIT no UPDATE state, and Gmail counts a message RETRieved in a session that ends with QUIT as
/// downloaded and never offers it to POP again — so a read that was never acknowledged must not end with QUIT
/// (docs/setup/google.md, "Gmail's POP settings").
/// </para>
/// </summary>
internal sealed partial class Pop3Session : IAsyncDisposable, IPop3MessageSource
{
    private readonly Func<CancellationToken, Task<Pop3Client>> _reconnect;
    private Pop3Client _client;
    private readonly Pop3LeaseManager.Pop3Lease? _lease;
    private readonly CancellationTokenSource _linked;
    private readonly ILogger _logger;
    private readonly MailGrpcMetrics? _metrics;
    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();
    private bool _faulted;
    private IReadOnlyList<Pop3Entry>? _entries;
    private int _disposed;

    internal Pop3Session(Pop3Client client, Func<CancellationToken, Task<Pop3Client>> reconnect, Pop3LeaseManager.Pop3Lease? lease, string mailboxId, ILogger logger, MailGrpcMetrics? metrics, CancellationToken callCancelled)
    {
        _metrics = metrics;
        _client = client;
        _reconnect = reconnect;
        _lease = lease;
        MailboxId = mailboxId;
        _logger = logger;
        _linked = lease is null
            ? CancellationTokenSource.CreateLinkedTokenSource(callCancelled)
            : CancellationTokenSource.CreateLinkedTokenSource(callCancelled, lease.Lost);
    }

    public string MailboxId { get; }

    /// <summary>The server pipelines commands (RFC 2449 PIPELINING).</summary>
    public bool SupportsPipelining => _client.Capabilities.HasFlag(Pop3Capabilities.Pipelining);

    public bool SupportsTop => _client.Capabilities.HasFlag(Pop3Capabilities.Top);

    public bool IsConnected => _client.IsConnected;

    /// <summary>The uids and sizes of every message, read once per session (UIDL + LIST, pipelined by MailKit where offered).</summary>
    public async Task<IReadOnlyList<Pop3Entry>> ListAsync()
    {
        if (_entries is not null)
        {
            return _entries;
        }

        var (uids, sizes) = await RunAsync(async ct =>
        {
            if (_client.Count == 0)
            {
                return ((IList<string>)[], (IList<int>)[]);
            }

            var u = await _client.GetMessageUidsAsync(ct);
            var s = await _client.GetMessageSizesAsync(ct);
            return (u, s);
        });
        var entries = new Pop3Entry[uids.Count];
        for (var i = 0; i < uids.Count; i++)
        {
            entries[i] = new Pop3Entry(i, uids[i], i < sizes.Count ? sizes[i] : 0);
        }

        _entries = entries;
        return entries;
    }

    /// <summary>
    /// Fetches whole messages (or only headers) for <paramref name="indexes"/>: one pipelined batch when the server offers
    /// PIPELINING, else one RETR/TOP at a time. MailKit holds every returned stream in memory; the caller has reserved that.
    /// </summary>
    public Task<IList<Stream>> FetchAsync(IList<int> indexes, bool headersOnly, CancellationToken cancellationToken) => RunAsync(async ct =>
    {
        if (indexes.Count > 1 && SupportsPipelining)
        {
            return await _client.GetStreamsAsync(indexes, headersOnly, ct);
        }

        var streams = new List<Stream>(indexes.Count);
        try
        {
            foreach (var index in indexes)
            {
                streams.Add(await _client.GetStreamAsync(index, headersOnly, ct));
            }
        }
        catch
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }

            throw;
        }

        return (IList<Stream>)streams;
    }, cancellationToken);

    /// <summary>Marks messages deleted (DELE). Nothing is removed until <see cref="CommitAsync"/> sends QUIT.</summary>
    public Task MarkDeletedAsync(IList<int> indexes) => RunAsync(async ct =>
    {
        if (indexes.Count > 0)
        {
            await _client.DeleteMessagesAsync(indexes, ct);
        }

        return true;
    });

    /// <summary>Ends the session with QUIT, which commits DELE marks. MailKit swallows a failed QUIT, so callers verify by uid.</summary>
    public Task CommitAsync() => RunAsync(async ct =>
    {
        await _client.DisconnectAsync(true, ct);
        return true;
    });

    /// <summary>
    /// Commits with QUIT and logs in again under the same lease, so the caller can check by uid what the QUIT really did
    /// (MailKit swallows a failed QUIT).
    /// </summary>
    public async Task CommitAndReopenAsync()
    {
        await CommitAsync();
        _client.DisposeQuietly();
        _entries = null;
        _client = await RunAsync(ct => _reconnect(ct));
    }

    private async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> command, CancellationToken extra = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        using var both = extra.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(_linked.Token, extra) : null;
        var ct = both?.Token ?? _linked.Token;
        try
        {
            return await command(ct);
        }
        catch when (SetFaulted())
        {
            throw; // never reached: SetFaulted only records that the session saw an error
        }
        catch (OperationCanceledException) when (_lease is not null && _lease.Lost.IsCancellationRequested)
        {
            throw Failures.Pop3LeaseLost();
        }
        catch (Exception ex) when (ex is IOException and not Pop3TransportException || ex is System.Net.Sockets.SocketException)
        {
            throw new Pop3TransportException(Pop3TransportFailure.ConnectionLost, "The POP3 connection broke.", ex);
        }
        catch (TimeoutException ex)
        {
            throw new Pop3TransportException(Pop3TransportFailure.Timeout, "The POP3 server did not answer in time.", ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            // No QUIT here (see the class remarks): closing the socket ends the session and its maildrop lock at once,
            // and drops any DELE marks a failed call left uncommitted.
            if (_client.IsConnected)
            {
                _client.DisposeQuietly();
            }
        }
#pragma warning disable CA1031 // Closing is best effort; the socket is closed by Dispose below either way.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _faulted = true;
            LogCloseFailed(_logger, ex, MailboxId);
        }
        finally
        {
            _metrics?.Pop3SessionEnded(System.Diagnostics.Stopwatch.GetElapsedTime(_started), _faulted ? "error" : "ok");
            _client.DisposeQuietly();
            _linked.Dispose();
            if (_lease is not null)
            {
                await _lease.DisposeAsync();
            }
        }
    }

    private bool SetFaulted()
    {
        _faulted = true;
        return false;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing the POP3 session of mailbox {MailboxId} failed")]
    private static partial void LogCloseFailed(ILogger logger, Exception exception, string mailboxId);
}
