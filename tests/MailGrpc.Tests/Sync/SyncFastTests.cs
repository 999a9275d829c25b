using System.Text.Json;
using MailGrpc.Server.Authorization;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Events;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Messages;
using MailGrpc.Server.Pop3;
using MailGrpc.Server.Sync;

namespace MailGrpc.Tests.Sync;

/// <summary>The diff of a poll, the events' data shape, the back-off and the claim rules, without Redis or POP3.</summary>
[Trait("Layer", "Fast")]
public sealed class SyncFastTests
{
    private static Pop3Entry[] Listing(params string[] uids) => uids.Select((u, i) => new Pop3Entry(i, u, 100 + i)).ToArray();

    [Fact]
    public void A_first_poll_records_the_mailbox_without_arrivals_unless_asked_to()
    {
        var listed = Listing("a", "b");
        var quiet = SyncDiff.Compute(null, listed, emitExisting: false);
        Assert.Empty(quiet.Arrived);
        Assert.Empty(quiet.Removed);

        var loud = SyncDiff.Compute(null, listed, emitExisting: true);
        Assert.Equal(["a", "b"], loud.Arrived.Select(e => e.Uid));
        Assert.Empty(loud.Removed);
    }

    [Fact]
    public void A_later_poll_reports_new_uids_in_server_order_and_vanished_ones()
    {
        var diff = SyncDiff.Compute(["a", "b", "c"], Listing("b", "d", "c", "e"), emitExisting: false);
        Assert.Equal(["d", "e"], diff.Arrived.Select(e => e.Uid));
        Assert.Equal([1, 3], diff.Arrived.Select(e => e.Index));
        Assert.Equal(["a"], diff.Removed);
        Assert.True(SyncDiff.Compute(["a"], Listing("a"), emitExisting: false).IsEmpty);
        Assert.Equal(["a"], SyncDiff.Compute(["a"], [], emitExisting: false).Removed);
    }

    [Fact]
    public void Message_arrived_carries_mailbox_uid_size_and_the_envelope_in_snake_case()
    {
        var envelope = new MessageEnvelope(
            "Invoice 42",
            [new MailAddress("Bob", "bob@example.com")],
            [new MailAddress(string.Empty, "alice@example.com")],
            [],
            [],
            new DateTimeOffset(2026, 12, 7, 4, 5, 6, TimeSpan.FromHours(1)),
            "abc@example.com",
            string.Empty,
            []);
        var at = DateTimeOffset.FromUnixTimeSeconds(1_796_601_600);
        var e = MailEventData.Arrived("mbx-1", "uid-7", 2048, envelope, at);

        Assert.Equal(MailEventTypes.MessageArrived, e.Type);
        Assert.Equal("mbx-1", e.MailboxId);
        Assert.Equal(at, e.OccurredAt);
        Assert.Equal(
            """{"mailbox_id":"mbx-1","uid":"uid-7","size":2048,"envelope":{"from":[{"name":"Bob","address":"bob@example.com"}],"to":[{"name":"","address":"alice@example.com"}],"subject":"Invoice 42","date":"2026-12-07T04:05:06+01:00","message_id":"abc@example.com"}}""",
            e.Data);
    }

    [Fact]
    public void The_other_events_carry_exactly_the_contracts_fields()
    {
        var at = DateTimeOffset.UnixEpoch;
        Assert.Equal("""{"mailbox_id":"m","uid":"u"}""", MailEventData.Removed("m", "u", at).Data);
        Assert.Equal(
            """{"mailbox_id":"m","state":"REAUTHORIZATION_REQUIRED","previous_state":"ACTIVE","reason":"INVALID_GRANT"}""",
            MailEventData.StateChanged("m", MailboxState.ReauthorizationRequired, MailboxState.Active, "INVALID_GRANT", at).Data);
        Assert.Equal(
            """{"mailbox_id":"m","state":"ACTIVE","previous_state":"PENDING_AUTHORIZATION","reason":""}""",
            MailEventData.StateChanged("m", MailboxState.Active, MailboxState.PendingAuthorization, null, at).Data);
        Assert.Equal(
            """{"mailbox_id":"m","reason":"POP3_CONNECT_FAILED","message":"Could not connect.","consecutive_failures":1}""",
            MailEventData.SyncFailing("m", "POP3_CONNECT_FAILED", "Could not connect.", 1, at).Data);
        Assert.Equal("""{"mailbox_id":"m"}""", MailEventData.SyncRecovered("m", at).Data);
        Assert.Equal(MailEventTypes.All, new[] { "message.arrived", "message.removed", "mailbox.state_changed", "mailbox.sync_failing", "mailbox.sync_recovered" });
    }

    [Fact]
    public void State_names_are_the_proto_value_names_without_prefix()
    {
        foreach (var state in Enum.GetValues<MailboxState>())
        {
            var proto = Enum.GetValues<MailGrpc.V1.MailboxState>().Single(p => p.ToString() == state.ToString());
            var descriptor = MailGrpc.V1.MailboxReflection.Descriptor.EnumTypes.Single(t => t.Name == "MailboxState").FindValueByNumber((int)proto);
            Assert.Equal(descriptor.Name["MAILBOX_STATE_".Length..], MailEventData.StateName(state));
        }
    }

    [Fact]
    public void Failed_polls_back_off_doubling_from_the_interval_up_to_the_cap()
    {
        var interval = TimeSpan.FromSeconds(60);
        var cap = TimeSpan.FromMinutes(15);
        Assert.Equal(TimeSpan.FromSeconds(60), SyncPoller.Backoff(interval, 1, cap));
        Assert.Equal(TimeSpan.FromSeconds(120), SyncPoller.Backoff(interval, 2, cap));
        Assert.Equal(TimeSpan.FromSeconds(480), SyncPoller.Backoff(interval, 4, cap));
        Assert.Equal(cap, SyncPoller.Backoff(interval, 5, cap));
        Assert.Equal(cap, SyncPoller.Backoff(interval, 1000, cap));
    }

    [Fact]
    public void Members_spread_over_shards_and_parse_back()
    {
        var shards = Enumerable.Range(0, 1000).Select(i => SyncKeys.Shard(SyncKeys.Member("t", "mbx-" + i), 16)).ToArray();
        Assert.All(Enumerable.Range(0, 16), s => Assert.InRange(shards.Count(x => x == s), 30, 100));
        Assert.Equal(("t", "mbx-1"), SyncKeys.ParseMember(SyncKeys.Member("t", "mbx-1")));
        Assert.Equal("mailgrpc:{sync:3}:due", SyncKeys.Due("sync", 3));
        Assert.Equal("mailgrpc:{mbx:t:m}:sync", SyncKeys.State("t", "m"));
    }
}

/// <summary>The claim rules of the schedule (in memory, the same rules the Redis script follows) on a fake clock.</summary>
[Trait("Layer", "Fast")]
public sealed class SyncScheduleClaimTests
{
    [Fact]
    public async Task A_claim_takes_only_due_entries_once_until_its_deadline_then_they_are_due_again()
    {
        var store = new InMemorySyncScheduleStore();
        var t0 = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var claimTimeout = TimeSpan.FromSeconds(60);
        await store.AddIfAbsentAsync(0, "t:a", t0, default);
        await store.AddIfAbsentAsync(0, "t:b", t0.AddSeconds(1), default);
        await store.AddIfAbsentAsync(0, "t:c", t0.AddSeconds(30), default);

        var first = await store.ClaimAsync(0, t0.AddSeconds(1), t0.AddSeconds(1) + claimTimeout, 10, default);
        Assert.Equal(["t:a", "t:b"], first.Select(c => c.Member));
        Assert.Equal([t0, t0.AddSeconds(1)], first.Select(c => c.DueAt));

        // A second replica right after: nothing of what the first holds.
        Assert.Empty(await store.ClaimAsync(0, t0.AddSeconds(2), t0.AddSeconds(2) + claimTimeout, 10, default));
        Assert.Equal(1, await store.CountDueAsync(0, t0.AddSeconds(30), default));

        // The first replica dies: at its claim's deadline the entries are due again, for whoever claims next.
        var takeover = await store.ClaimAsync(0, t0.AddSeconds(61), t0.AddSeconds(61) + claimTimeout, 10, default);
        Assert.Equal(["t:c", "t:a", "t:b"], takeover.Select(c => c.Member));
    }

    [Fact]
    public async Task Claims_are_bounded_by_the_free_slots_reschedule_keeps_deletes_and_upsert_only_moves_earlier()
    {
        var store = new InMemorySyncScheduleStore();
        var t0 = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        for (var i = 0; i < 10; i++)
        {
            await store.AddIfAbsentAsync(1, "t:m" + i, t0, default);
        }

        Assert.Equal(3, (await store.ClaimAsync(1, t0, t0.AddMinutes(1), 3, default)).Count);
        Assert.Equal(7, await store.CountDueAsync(1, t0, default));

        await store.RemoveAsync(1, "t:m0", default);
        await store.RescheduleAsync(1, "t:m0", t0.AddSeconds(60), default);   // a poll that ends after a delete adds nothing back
        Assert.Null(store.DueAt(1, "t:m0"));

        await store.UpsertAsync(1, "t:m5", t0.AddSeconds(10), default);        // later: ignored
        Assert.Equal(t0, store.DueAt(1, "t:m5"));
        await store.RescheduleAsync(1, "t:m5", t0.AddSeconds(60), default);
        await store.UpsertAsync(1, "t:m5", t0.AddSeconds(5), default);         // earlier: taken
        Assert.Equal(t0.AddSeconds(5), store.DueAt(1, "t:m5"));
    }
}

/// <summary>
/// The registry keeps the schedule in step (create, sync settings, delete) and validates the settings; the state recorder's
/// changes become <c>mailbox.state_changed</c> events.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class SyncRegistryTests : IAsyncDisposable
{
    private readonly SyncCore _core = new(new Dictionary<string, string?> { ["MailGrpc:Sync:MinInterval"] = "00:00:30" });

    private MailboxManager Manager => _core.Get<MailboxManager>();

    private static MailboxSpec Spec(SyncSpec? sync = null) => new()
    {
        Username = "alice@example.com",
        Server = new ServerSpec("pop.internal.test", null, Pop3Security.ImplicitTls),
        AuthMethod = new PasswordAuthSpec(),
        Sync = sync,
    };

    public ValueTask DisposeAsync() => _core.DisposeAsync();

    [Fact]
    public async Task A_new_mailbox_is_due_at_once_turning_sync_off_unschedules_it_and_delete_removes_it()
    {
        var created = await Manager.CreateAsync(SyncCore.Tenant, new NewMailbox("alice", Spec()), default);
        Assert.Null(created.Sync);
        Assert.Equal(_core.Clock.GetUtcNow(), _core.DueAt("alice"));

        var off = await Manager.UpdateAsync(SyncCore.Tenant, new MailboxChange(Spec(new SyncSpec(false, null)) with { MailboxId = "alice" }, ["sync.enabled"]), default);
        Assert.Equal(new MailboxSyncSettings(false, null), off.Sync);
        Assert.Null(_core.DueAt("alice"));

        _core.Clock.Advance(TimeSpan.FromMinutes(1));
        var on = await Manager.UpdateAsync(SyncCore.Tenant, new MailboxChange(Spec(new SyncSpec(null, TimeSpan.FromMinutes(5))) with { MailboxId = "alice" }, ["sync"]), default);
        Assert.Equal(new MailboxSyncSettings(null, TimeSpan.FromMinutes(5)), on.Sync);
        Assert.Equal(_core.Clock.GetUtcNow(), _core.DueAt("alice"));

        // Only the interval path: enabled stays as set.
        var interval = await Manager.UpdateAsync(SyncCore.Tenant, new MailboxChange(Spec(new SyncSpec(false, TimeSpan.FromMinutes(2))) with { MailboxId = "alice" }, ["sync.interval"]), default);
        Assert.Equal(new MailboxSyncSettings(null, TimeSpan.FromMinutes(2)), interval.Sync);

        // "sync" with the message left out: back to the defaults (nothing stored).
        var reset = await Manager.UpdateAsync(SyncCore.Tenant, new MailboxChange(Spec() with { MailboxId = "alice" }, ["sync"]), default);
        Assert.Null(reset.Sync);

        await Manager.DeleteAsync(SyncCore.Tenant, "alice", string.Empty, default);
        Assert.Null(_core.DueAt("alice"));
    }

    [Fact]
    public async Task A_mailbox_created_with_sync_off_is_not_scheduled()
    {
        await Manager.CreateAsync(SyncCore.Tenant, new NewMailbox("bob", Spec(new SyncSpec(false, null))), default);
        Assert.Null(_core.DueAt("bob"));
    }

    [Theory]
    [InlineData(29_999)]
    [InlineData(86_400_001)]
    public async Task An_interval_outside_min_to_one_day_is_refused_and_nothing_is_written(long milliseconds)
    {
        var ex = await Assert.ThrowsAsync<MailGrpcException>(() =>
            Manager.CreateAsync(SyncCore.Tenant, new NewMailbox("carol", Spec(new SyncSpec(true, TimeSpan.FromMilliseconds(milliseconds)))), default));
        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Equal(ErrorReasons.InvalidSyncInterval, ex.Reason);
        Assert.Equal("mailbox.sync.interval", ex.Metadata["field"]);
        Assert.Null(await _core.Get<MailboxRepository>().GetAsync(SyncCore.Tenant, "carol", default));
        Assert.Null(_core.DueAt("carol"));
    }

    [Fact]
    public async Task An_interval_with_sub_millisecond_digits_is_refused()
    {
        var ex = await Assert.ThrowsAsync<MailGrpcException>(() =>
            Manager.CreateAsync(SyncCore.Tenant, new NewMailbox("dave", Spec(new SyncSpec(true, TimeSpan.FromSeconds(60), IntervalWholeMilliseconds: false))), default));
        Assert.Equal(ErrorReasons.InvalidSyncInterval, ex.Reason);
    }

    [Fact]
    public async Task State_changes_become_state_changed_events_with_the_reason_and_reactivation_makes_the_mailbox_due()
    {
        await Manager.CreateAsync(SyncCore.Tenant, new NewMailbox("erin", Spec()), default);
        var recorder = _core.Get<MailboxStateRecorder>();
        await recorder.MarkActiveAsync(SyncCore.Tenant, "erin", default);
        await recorder.MarkActiveAsync(SyncCore.Tenant, "erin", default); // no change, no event
        await recorder.MarkReauthorizationRequiredAsync(SyncCore.Tenant, "erin", ErrorReasons.InvalidGrant, "The grant was revoked.", default);

        // A poll pushed the mailbox far ahead; re-activation makes it due at once.
        var member = SyncKeys.Member(SyncCore.Tenant, "erin");
        var shard = _core.Get<SyncSchedule>().ShardOf(member);
        await _core.Schedule.RescheduleAsync(shard, member, _core.Clock.GetUtcNow().AddHours(1), default);
        _core.Clock.Advance(TimeSpan.FromSeconds(5));
        await recorder.MarkActiveAsync(SyncCore.Tenant, "erin", default);
        Assert.Equal(_core.Clock.GetUtcNow(), _core.DueAt("erin"));

        // Disabled through the API: an event too.
        await Manager.UpdateAsync(SyncCore.Tenant, new MailboxChange(Spec() with { MailboxId = "erin", State = MailboxState.Disabled }, ["state"]), default);

        var events = _core.Events.Events.Where(e => e.Event.MailboxId == "erin").ToArray();
        Assert.All(events, e => Assert.Equal(SyncCore.Tenant, e.Tenant));
        Assert.All(events, e => Assert.Equal(MailEventTypes.MailboxStateChanged, e.Event.Type));
        var data = events.Select(e => JsonDocument.Parse(e.Event.Data).RootElement).Select(d =>
            (d.GetProperty("state").GetString(), d.GetProperty("previous_state").GetString(), d.GetProperty("reason").GetString())).ToArray();
        Assert.Equal(
            [
                ("ACTIVE", "PENDING_AUTHORIZATION", string.Empty),
                ("REAUTHORIZATION_REQUIRED", "ACTIVE", ErrorReasons.InvalidGrant),
                ("ACTIVE", "REAUTHORIZATION_REQUIRED", string.Empty),
                ("DISABLED", "ACTIVE", string.Empty),
            ],
            data);
    }
}
