using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Messages;

/// <summary>
/// WatchMessages: the registry of watchers, one <see cref="MailboxPoller"/> per mailbox in this process shared by all its
/// watchers. The poller fetches each new message once (through the same <see cref="MessageFetcher"/> as StreamMessages)
/// and hands it to every watcher that has not seen it and whose consumer has not acknowledged it; each watcher writes it
/// with the same <see cref="MessageFrameWriter"/>. A slow watcher slows its mailbox's poller, never memory. With the Redis
/// store the mailbox is polled by the sync engine once per interval for the whole deployment, and the poller fetches only
/// what that poll found (<see cref="Sync.WatchDemand"/>).
/// </summary>
internal sealed class WatchRegistry(MailboxRepository mailboxes, MailboxPolling polling, MessageFrameWriter frames) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, MailboxPoller> _pollers = new(StringComparer.Ordinal);

    /// <summary>Runs one watch until the caller leaves. <paramref name="established"/> runs once the baseline is known.</summary>
    public async Task WatchAsync(string tenant, WatchMessagesQuery request, Func<Task> established, IMessageFrameSink sink, CancellationToken cancellationToken)
    {
        var mailboxId = MessageRequestValidator.MailboxId(request.MailboxId);
        var consumer = MessageRequestValidator.OptionalConsumer(request.Consumer);
        var headersOnly = MessageRequestValidator.HeadersOnly(request.View);
        var mailbox = await mailboxes.GetRequiredAsync(tenant, mailboxId, cancellationToken);
        MessageRequestValidator.EnsureActive(mailbox);

        var watcher = new Watcher(consumer, headersOnly, request.IncludeExisting);
        var poller = Join(tenant, mailboxId, watcher);
        try
        {
            await watcher.Ready.Task.WaitAsync(cancellationToken);
            await established();
            await foreach (var lease in watcher.Queue.Reader.ReadAllAsync(cancellationToken))
            {
                using (lease)
                {
                    await lease.Message.WriteAsync(frames, headersOnly, sink, cancellationToken);
                }
            }
        }
        finally
        {
            Leave(poller, watcher);
            while (watcher.Queue.Reader.TryRead(out var left))
            {
                left.Dispose();
            }
        }
    }

    /// <summary>The watchers of <paramref name="poller"/> now.</summary>
    internal Watcher[] Snapshot(MailboxPoller poller)
    {
        lock (_gate)
        {
            return [.. poller.Watchers];
        }
    }

    /// <summary>A poller that stopped on its own leaves the registry (the next watch starts a new one).</summary>
    internal void Retire(MailboxPoller poller)
    {
        lock (_gate)
        {
            if (_pollers.TryGetValue(poller.Key, out var current) && current == poller)
            {
                _pollers.Remove(poller.Key);
            }

            poller.Dispose();
        }
    }

    private MailboxPoller Join(string tenant, string mailboxId, Watcher watcher)
    {
        lock (_gate)
        {
            var key = tenant + "\n" + mailboxId;
            if (!_pollers.TryGetValue(key, out var poller))
            {
                poller = new MailboxPoller(this, polling, key, tenant, mailboxId);
                _pollers[key] = poller;
                poller.Watchers.Add(watcher);
                poller.Start();
            }
            else
            {
                poller.Watchers.Add(watcher);
                poller.Wake();
            }

            return poller;
        }
    }

    private void Leave(MailboxPoller poller, Watcher watcher)
    {
        watcher.Queue.Writer.TryComplete();
        lock (_gate)
        {
            poller.Watchers.Remove(watcher);
            if (poller.Watchers.Count == 0 && _pollers.TryGetValue(poller.Key, out var current) && current == poller)
            {
                _pollers.Remove(poller.Key);
                poller.Stop();
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var poller in _pollers.Values)
            {
                poller.Stop();
            }

            _pollers.Clear();
        }
    }
}
