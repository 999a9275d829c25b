using System.Text.RegularExpressions;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;

namespace MailGrpc.Server.Events;

/// <summary>The rules for the names a subscription or webhook carries: groups, consumers, event types, event ids.</summary>
internal static partial class EventNames
{
    /// <summary>Consumer groups of webhook endpoints start with this; callers' groups may not.</summary>
    public const string WebhookGroupPrefix = "webhook.";

    public const int MaxEventTypes = 32;
    public const int MaxMailboxFilters = 1000;
    public const int MaxIdsPerCall = 1000;

    public static string ValidateGroup(string group) =>
        NamePattern().IsMatch(group) && !group.StartsWith(WebhookGroupPrefix, StringComparison.OrdinalIgnoreCase) ? group : throw Failures.InvalidConsumerGroup();

    public static string ValidateConsumer(string consumer) =>
        NamePattern().IsMatch(consumer) ? consumer : throw Failures.InvalidEventConsumer();

    /// <summary>Distinct event types, each 1-64 of a-z 0-9 . _; unknown future types are allowed (a filter for them is harmless).</summary>
    public static IReadOnlySet<string> ValidateEventTypes(IEnumerable<string> types, string field)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var type in types)
        {
            if (!TypePattern().IsMatch(type)) throw Failures.InvalidEventType(field);
            set.Add(type);
            if (set.Count > MaxEventTypes) throw Failures.InvalidEventType(field);
        }

        return set;
    }

    public static IReadOnlySet<string> ValidateMailboxFilter(IEnumerable<string> mailboxIds)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in mailboxIds)
        {
            try
            {
                MailboxValidator.ValidateMailboxId(id, "mailbox_ids");
            }
            catch (MailGrpcException)
            {
                throw Failures.InvalidMailboxFilter();
            }

            set.Add(id);
            if (set.Count > MaxMailboxFilters) throw Failures.InvalidMailboxFilter();
        }

        return set;
    }

    /// <summary>True for a Redis stream entry id <c>&lt;ms&gt;-&lt;seq&gt;</c>.</summary>
    public static bool IsStreamId(string id) => IdPattern().IsMatch(id);

    public static IReadOnlyList<string> ValidateEventIds(IReadOnlyCollection<string> ids) =>
        ids.Count is > 0 and <= MaxIdsPerCall && ids.All(IsStreamId) ? ids.Distinct(StringComparer.Ordinal).ToList() : throw Failures.InvalidEventIds();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,100}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[a-z0-9._]{1,64}$")]
    private static partial Regex TypePattern();

    [GeneratedRegex("^[0-9]{1,20}-[0-9]{1,20}$")]
    private static partial Regex IdPattern();
}
