using System.Text.Json;
using MailGrpc.Server.Errors;
using MailGrpc.Server.GrpcApi;
using MailGrpc.Server.Mailboxes;
using MailGrpc.Server.Sync.Retention;
using Microsoft.Extensions.Time.Testing;
using V1 = MailGrpc.V1;

namespace MailGrpc.Tests.Sync.Retention;

/// <summary>The retention rule (who must have acknowledged, when the clock starts, when a uid is due), its validation, mapping and stored form.</summary>
[Trait("Layer", "Fast")]
public sealed class RetentionFastTests
{
    private static readonly MailboxRetention Now = new(RetentionMode.DeleteWhenAcknowledged, ["a", "b"], TimeSpan.Zero);

    [Fact]
    public void Only_uids_every_required_consumer_acknowledged_count()
    {
        string[] candidates = ["u1", "u2", "u3"];
        Assert.Equal(["u2"], RetentionRule.Intersect(candidates, [[true, true, false], [false, true, true]]));
        // A required consumer without a ledger acknowledged nothing: nothing is deletable.
        Assert.Empty(RetentionRule.Intersect(candidates, [[true, true, true], [false, false, false]]));
        Assert.Empty(RetentionRule.Intersect(candidates, []));
    }

    [Fact]
    public void With_no_delay_a_uid_is_due_at_the_first_poll_that_sees_it_acknowledged_by_all()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 4, 0, 0, TimeSpan.Zero));
        var decision = RetentionRule.Decide(Now, ["u1"], new Dictionary<string, DateTimeOffset>(), time.GetUtcNow());

        Assert.Equal(["u1"], decision.Due);
        Assert.Equal(time.GetUtcNow(), decision.ClockStarted["u1"]);
        Assert.Empty(decision.ClockStopped);
    }

    [Fact]
    public void With_a_delay_the_clock_starts_at_the_first_poll_and_the_uid_is_due_once_it_has_run()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 4, 0, 0, TimeSpan.Zero));
        var policy = Now with { DeleteAfter = TimeSpan.FromDays(3) };
        var clock = new Dictionary<string, DateTimeOffset>();

        var first = RetentionRule.Decide(policy, ["u1"], clock, time.GetUtcNow());
        Assert.Empty(first.Due);
        var started = Assert.Single(first.ClockStarted);
        clock[started.Key] = started.Value;

        time.Advance(TimeSpan.FromDays(3) - TimeSpan.FromSeconds(1));
        var early = RetentionRule.Decide(policy, ["u1"], clock, time.GetUtcNow());
        Assert.Empty(early.Due);
        Assert.Empty(early.ClockStarted); // the clock is not restarted by later polls

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["u1"], RetentionRule.Decide(policy, ["u1"], clock, time.GetUtcNow()).Due);
    }

    [Fact]
    public void A_uid_no_longer_acknowledged_by_all_loses_its_clock_and_keep_deletes_nothing()
    {
        var at = new DateTimeOffset(2026, 12, 7, 4, 0, 0, TimeSpan.Zero);
        var clock = new Dictionary<string, DateTimeOffset> { ["u1"] = at.AddDays(-10), ["u2"] = at.AddDays(-10) };

        var decision = RetentionRule.Decide(Now, ["u2"], clock, at);
        Assert.Equal(["u2"], decision.Due);
        Assert.Equal(["u1"], decision.ClockStopped);

        var keep = RetentionRule.Decide(Now with { Mode = RetentionMode.Keep }, ["u1", "u2"], clock, at);
        Assert.Empty(keep.Due);
        Assert.Empty(keep.ClockStarted);
    }

    [Theory]
    [InlineData("unknown", "a", 0L, ErrorReasons.InvalidRetentionMode)]
    [InlineData("DeleteWhenAcknowledged", "", 0L, ErrorReasons.InvalidRetentionConsumers)]
    [InlineData("DeleteWhenAcknowledged", "a,a", 0L, ErrorReasons.InvalidRetentionConsumers)]
    [InlineData("DeleteWhenAcknowledged", "a,b c", 0L, ErrorReasons.InvalidRetentionConsumers)]
    [InlineData("DeleteWhenAcknowledged", "a,b,c", 0L, ErrorReasons.InvalidRetentionConsumers)]
    [InlineData("DeleteWhenAcknowledged", "a", -1L, ErrorReasons.InvalidRetentionDeleteAfter)]
    [InlineData("DeleteWhenAcknowledged", "a", 366L * 86400, ErrorReasons.InvalidRetentionDeleteAfter)]
    public void A_bad_policy_is_refused_with_its_reason(string mode, string consumers, long deleteAfterSeconds, string reason)
    {
        var spec = new RetentionSpec(mode == "unknown" ? null : Enum.Parse<RetentionMode>(mode), consumers.Length == 0 ? [] : consumers.Split(','), TimeSpan.FromSeconds(deleteAfterSeconds));
        var error = Assert.Throws<MailGrpcException>(() => RetentionPolicyValidator.Validate(spec, maxConsumers: 2));
        Assert.Equal(reason, error.Reason);
        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
    }

    [Fact]
    public void A_good_policy_is_kept_and_fractional_seconds_are_refused()
    {
        var policy = RetentionPolicyValidator.Validate(new RetentionSpec(RetentionMode.DeleteWhenAcknowledged, ["a", "b"], TimeSpan.FromDays(365)), 2)!;
        Assert.Equal(["a", "b"], policy.RequiredConsumers);
        Assert.Equal(TimeSpan.FromDays(365), policy.DeleteAfter);
        Assert.Equal(TimeSpan.Zero, RetentionPolicyValidator.Validate(new RetentionSpec(RetentionMode.Keep, [], null), 2)!.DeleteAfter);
        Assert.Null(RetentionPolicyValidator.Validate(new RetentionSpec(RetentionMode.Keep, [], null), 2)!.OrNull());

        var proto = new V1.Mailbox { Retention = new V1.RetentionPolicy { Mode = V1.RetentionMode.DeleteWhenAcknowledged, RequiredConsumers = { "a" }, DeleteAfter = new Google.Protobuf.WellKnownTypes.Duration { Seconds = 1, Nanos = 5 } } };
        var error = Assert.Throws<MailGrpcException>(() => RetentionPolicyValidator.Validate(proto.ToDomain().Retention, 2));
        Assert.Equal(ErrorReasons.InvalidRetentionDeleteAfter, error.Reason);
    }

    [Fact]
    public void The_mapper_round_trips_a_policy_and_an_unknown_mode_becomes_null()
    {
        var proto = new V1.Mailbox
        {
            Retention = new V1.RetentionPolicy
            {
                Mode = V1.RetentionMode.DeleteWhenAcknowledged,
                RequiredConsumers = { "archiver", "indexer" },
                DeleteAfter = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromDays(7)),
            },
        };
        var spec = proto.ToDomain().Retention!;
        Assert.Equal(RetentionMode.DeleteWhenAcknowledged, spec.Mode);
        Assert.Equal(["archiver", "indexer"], spec.RequiredConsumers);
        Assert.Equal(TimeSpan.FromDays(7), spec.DeleteAfter);

        var back = MailboxProtoMapper.ToProto(RetentionPolicyValidator.Validate(spec, 100)!);
        Assert.Equal(proto.Retention, back);
        Assert.Equal(RetentionMode.Keep, MailboxProtoMapper.ToDomain(V1.RetentionMode.Unspecified));
        Assert.Null(MailboxProtoMapper.ToDomain((V1.RetentionMode)99));
    }

    [Fact]
    public void The_stored_policy_has_pinned_names()
    {
        var record = new MailboxRecord
        {
            Tenant = "t1",
            Id = "m",
            Username = "u",
            Host = "h",
            Retention = new MailboxRetention(RetentionMode.DeleteWhenAcknowledged, ["a"], TimeSpan.FromHours(1)),
        };
        var json = JsonSerializer.Serialize(record, MailboxJsonContext.Default.MailboxRecord);
        Assert.Contains("\"Retention\":{\"Mode\":\"DeleteWhenAcknowledged\",\"RequiredConsumers\":[\"a\"],\"DeleteAfter\":\"01:00:00\"}", json, StringComparison.Ordinal);
        var read = JsonSerializer.Deserialize(json, MailboxJsonContext.Default.MailboxRecord)!.Retention!;
        Assert.Equal(RetentionMode.DeleteWhenAcknowledged, read.Mode);
        Assert.Equal(["a"], read.RequiredConsumers);
        Assert.Equal(TimeSpan.FromHours(1), read.DeleteAfter);
        Assert.DoesNotContain("Retention", JsonSerializer.Serialize(record with { Retention = null }, MailboxJsonContext.Default.MailboxRecord), StringComparison.Ordinal);
    }
}
