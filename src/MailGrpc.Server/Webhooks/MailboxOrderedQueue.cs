namespace MailGrpc.Server.Webhooks;

/// <summary>
/// The events an endpoint's worker holds, in one lane per mailbox: only the head of a lane may be in flight, and only once
/// its retry time has come, so an event of a mailbox is never sent while an earlier event of that mailbox is unconfirmed
/// or waiting to be retried. Lanes are served round-robin. Not thread-safe: one worker loop owns it.
/// </summary>
internal sealed class MailboxOrderedQueue<T>
    where T : class
{
    private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _rotation = new();

    /// <summary>Items held (waiting, retrying or in flight).</summary>
    public int Count { get; private set; }

    /// <summary>Items in flight.</summary>
    public int InFlight { get; private set; }

    /// <summary>Items held for <paramref name="mailbox"/> (waiting, retrying or in flight).</summary>
    public int CountOf(string mailbox) => _lanes.TryGetValue(mailbox, out var lane) ? lane.Items.Count : 0;

    /// <summary>Appends an item to its mailbox's lane (after every item already there).</summary>
    public void Enqueue(string mailbox, T item)
    {
        if (!_lanes.TryGetValue(mailbox, out var lane))
        {
            lane = new Lane();
            _lanes[mailbox] = lane;
            _rotation.AddLast(mailbox);
        }

        lane.Items.Enqueue(item);
        Count++;
    }

    /// <summary>The head of the next lane that is not in flight and whose retry time is due, marked in flight; null when none.</summary>
    public T? TakeReady(DateTimeOffset now)
    {
        for (var node = _rotation.First; node is not null; node = node.Next)
        {
            var lane = _lanes[node.Value];
            if (lane.InFlight || lane.NotBefore > now || lane.Items.Count == 0) continue;
            lane.InFlight = true;
            InFlight++;
            // Round-robin: the lane just served goes to the back.
            _rotation.Remove(node);
            _rotation.AddLast(node);
            return lane.Items.Peek();
        }

        return null;
    }

    /// <summary>The head of <paramref name="mailbox"/>'s lane is done (delivered or dead-lettered): the next may go.</summary>
    public void Complete(string mailbox, T item)
    {
        var lane = InFlightLane(mailbox, item);
        lane.Items.Dequeue();
        lane.InFlight = false;
        lane.NotBefore = DateTimeOffset.MinValue;
        InFlight--;
        Count--;
        if (lane.Items.Count == 0)
        {
            _lanes.Remove(mailbox);
            _rotation.Remove(mailbox);
        }
    }

    /// <summary>The head failed and is retried not before <paramref name="notBefore"/>; the lane waits for it.</summary>
    public void Retry(string mailbox, T item, DateTimeOffset notBefore)
    {
        var lane = InFlightLane(mailbox, item);
        lane.InFlight = false;
        lane.NotBefore = notBefore;
        InFlight--;
    }

    /// <summary>The earliest retry time of a lane waiting on one (null when no lane waits on a time).</summary>
    public DateTimeOffset? NextRetryTime()
    {
        DateTimeOffset? next = null;
        foreach (var lane in _lanes.Values)
        {
            if (!lane.InFlight && lane.Items.Count > 0 && lane.NotBefore != DateTimeOffset.MinValue && (next is null || lane.NotBefore < next))
            {
                next = lane.NotBefore;
            }
        }

        return next;
    }

    private Lane InFlightLane(string mailbox, T item)
    {
        if (!_lanes.TryGetValue(mailbox, out var lane) || !lane.InFlight || !ReferenceEquals(lane.Items.Peek(), item))
        {
            throw new InvalidOperationException("Only the in-flight head of a mailbox's lane can be completed or retried.");
        }

        return lane;
    }

    private sealed class Lane
    {
        public Queue<T> Items { get; } = new();

        public bool InFlight { get; set; }

        public DateTimeOffset NotBefore { get; set; } = DateTimeOffset.MinValue;
    }
}
