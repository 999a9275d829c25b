using MailGrpc.Server.Webhooks;

namespace MailGrpc.Tests.Webhooks;

/// <summary>Per-mailbox order: one event of a mailbox in flight at a time, a retrying head holds back its lane, lanes are served round-robin.</summary>
[Trait("Layer", "Fast")]
public sealed class MailboxOrderedQueueTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private sealed record Ev(string Mailbox, int N);

    [Fact]
    public void A_mailbox_has_at_most_one_event_in_flight_and_the_next_goes_only_after_the_first_completes()
    {
        var queue = new MailboxOrderedQueue<Ev>();
        var a1 = new Ev("a", 1);
        var a2 = new Ev("a", 2);
        queue.Enqueue("a", a1);
        queue.Enqueue("a", a2);

        Assert.Same(a1, queue.TakeReady(T0));
        Assert.Null(queue.TakeReady(T0));          // a2 waits behind the unconfirmed a1
        Assert.Equal(1, queue.InFlight);
        queue.Complete("a", a1);
        Assert.Same(a2, queue.TakeReady(T0));
        queue.Complete("a", a2);
        Assert.Equal(0, queue.Count);
        Assert.Null(queue.TakeReady(T0));
    }

    [Fact]
    public void A_retrying_head_holds_back_its_mailbox_until_its_time_but_not_other_mailboxes()
    {
        var queue = new MailboxOrderedQueue<Ev>();
        var a1 = new Ev("a", 1);
        var a2 = new Ev("a", 2);
        var b1 = new Ev("b", 1);
        queue.Enqueue("a", a1);
        queue.Enqueue("a", a2);
        queue.Enqueue("b", b1);

        Assert.Same(a1, queue.TakeReady(T0));
        queue.Retry("a", a1, T0.AddSeconds(5));
        Assert.Equal(T0.AddSeconds(5), queue.NextRetryTime());
        Assert.Same(b1, queue.TakeReady(T0));       // b is not held back by a
        Assert.Null(queue.TakeReady(T0.AddSeconds(4)));  // a1 not due, a2 must not overtake it
        Assert.Same(a1, queue.TakeReady(T0.AddSeconds(5)));
        queue.Complete("a", a1);
        Assert.Null(queue.NextRetryTime());
        Assert.Same(a2, queue.TakeReady(T0.AddSeconds(5)));
    }

    [Fact]
    public void Lanes_are_served_round_robin_and_each_in_its_own_order()
    {
        var queue = new MailboxOrderedQueue<Ev>();
        foreach (var n in Enumerable.Range(1, 3))
        {
            foreach (var mailbox in new[] { "a", "b", "c" }) queue.Enqueue(mailbox, new Ev(mailbox, n));
        }

        var sent = new List<Ev>();
        while (queue.Count > 0)
        {
            var batch = new List<Ev>();
            while (queue.TakeReady(T0) is { } e) batch.Add(e);
            Assert.Equal(batch.Count, batch.Select(e => e.Mailbox).Distinct().Count()); // never two of one mailbox at once
            foreach (var e in batch) queue.Complete(e.Mailbox, e);
            sent.AddRange(batch);
        }

        foreach (var mailbox in new[] { "a", "b", "c" })
        {
            Assert.Equal([1, 2, 3], sent.Where(e => e.Mailbox == mailbox).Select(e => e.N));
        }
    }

    [Fact]
    public void Only_the_in_flight_head_can_be_completed_or_retried()
    {
        var queue = new MailboxOrderedQueue<Ev>();
        var a1 = new Ev("a", 1);
        var a2 = new Ev("a", 2);
        queue.Enqueue("a", a1);
        queue.Enqueue("a", a2);
        Assert.Throws<InvalidOperationException>(() => queue.Complete("a", a1)); // not taken yet
        queue.TakeReady(T0);
        Assert.Throws<InvalidOperationException>(() => queue.Complete("a", a2));
        Assert.Throws<InvalidOperationException>(() => queue.Retry("b", a1, T0));
    }

    [Fact]
    public void A_lane_counts_its_items_in_flight_or_waiting_until_they_complete()
    {
        var queue = new MailboxOrderedQueue<Ev>();
        var a1 = new Ev("a", 1);
        queue.Enqueue("a", a1);
        queue.Enqueue("a", new Ev("a", 2));
        queue.Enqueue("b", new Ev("b", 1));
        Assert.Equal(2, queue.CountOf("a"));
        Assert.Equal(1, queue.CountOf("b"));
        Assert.Equal(0, queue.CountOf("c"));

        Assert.Same(a1, queue.TakeReady(T0));
        queue.Retry("a", a1, T0.AddSeconds(1));
        Assert.Equal(2, queue.CountOf("a"));         // a retrying head still counts
        Assert.Equal("b", queue.TakeReady(T0.AddSeconds(1))!.Mailbox);
        Assert.Same(a1, queue.TakeReady(T0.AddSeconds(1)));
        queue.Complete("a", a1);
        Assert.Equal(1, queue.CountOf("a"));
    }
}
