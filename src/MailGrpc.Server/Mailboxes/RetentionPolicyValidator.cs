using MailGrpc.Server.Errors;
using MailGrpc.Server.Messages;

namespace MailGrpc.Server.Mailboxes;

/// <summary>Checks a caller's retention policy (docs/sync.md, "Retention"); refuses it with the field's reason.</summary>
internal static class RetentionPolicyValidator
{
    /// <summary>The longest <c>delete_after</c>.</summary>
    public static readonly TimeSpan MaxDeleteAfter = TimeSpan.FromDays(365);

    /// <summary>The policy to store (null when left out).</summary>
    public static MailboxRetention? Validate(RetentionSpec? spec, int maxConsumers)
    {
        if (spec is null)
        {
            return null;
        }

        var mode = spec.Mode ?? throw Failures.InvalidRetentionMode();
        var consumers = Consumers(spec.RequiredConsumers, maxConsumers);
        if (mode == RetentionMode.DeleteWhenAcknowledged && consumers.Count == 0)
        {
            throw Failures.InvalidRetentionConsumers("must name at least one consumer with RETENTION_MODE_DELETE_WHEN_ACKNOWLEDGED.");
        }

        return new MailboxRetention(mode, consumers, DeleteAfter(spec.DeleteAfter));
    }

    public static IReadOnlyList<string> Consumers(IReadOnlyList<string> values, int maxConsumers)
    {
        if (values.Count > maxConsumers)
        {
            throw Failures.InvalidRetentionConsumers($"may name at most {maxConsumers} consumers (MailGrpc:Pop3:MaxConsumersPerMailbox).");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            if (!MessageRequestValidator.IsConsumer(value))
            {
                throw Failures.InvalidRetentionConsumers("holds a name that is not 1 to 100 characters of A-Z a-z 0-9 . _ -.");
            }

            if (!seen.Add(value))
            {
                throw Failures.InvalidRetentionConsumers("names a consumer twice.");
            }
        }

        return values.ToArray();
    }

    public static TimeSpan DeleteAfter(TimeSpan? value) =>
        value is not { } after ? TimeSpan.Zero
        : after < TimeSpan.Zero || after > MaxDeleteAfter || after.Ticks % TimeSpan.TicksPerSecond != 0 ? throw Failures.InvalidRetentionDeleteAfter(MaxDeleteAfter)
        : after;
}
