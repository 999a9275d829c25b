using System.Text.RegularExpressions;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.Messages;

/// <summary>Checks MessageService inputs before anything is read or written.</summary>
internal static partial class MessageRequestValidator
{
    public const int MaxUidsPerCall = 10_000;

    public static string MailboxId(string value) => MailboxValidator.ValidateMailboxId(value);

    public static string Consumer(string value, string field = "consumer")
    {
        if (!ConsumerPattern().IsMatch(value))
        {
            throw Failures.InvalidConsumer(field);
        }

        return value;
    }

    /// <summary>An empty consumer is allowed (no ledger); otherwise it must be valid.</summary>
    public static string? OptionalConsumer(string value) => string.IsNullOrEmpty(value) ? null : Consumer(value);

    /// <summary>A POP3 unique-id: 1 to 70 characters in 0x21..0x7E (RFC 1939).</summary>
    public static string Uid(string value, string field = "uid")
    {
        if (value.Length is < 1 or > 70 || value.Any(c => c is < '!' or > '~'))
        {
            throw Failures.InvalidUid(field);
        }

        return value;
    }

    public static IReadOnlyList<string> Uids(IReadOnlyList<string> values, bool allowEmpty)
    {
        if ((!allowEmpty && values.Count == 0) || values.Count > MaxUidsPerCall)
        {
            throw Failures.InvalidUids(MaxUidsPerCall);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<string>(values.Count);
        for (var i = 0; i < values.Count; i++)
        {
            if (seen.Add(Uid(values[i], $"uids[{i}]")))
            {
                result.Add(values[i]);
            }
        }

        return result;
    }

    public static bool HeadersOnly(MessageView view) => view switch
    {
        MessageView.Unspecified or MessageView.Full => false,
        MessageView.Headers => true,
        _ => throw Failures.InvalidView(),
    };

    // The stored state is still the proto enum (Mailboxes/MailboxRecord.cs); it becomes the project's own with #12.2.
    public static void EnsureActive(MailboxRecord mailbox)
    {
        if (mailbox.State != V1.MailboxState.Active)
        {
            var why = mailbox.State switch
            {
                V1.MailboxState.PendingAuthorization => "it has not been authorized yet (complete an authorization or set its password)",
                V1.MailboxState.ReauthorizationRequired => "its authorization was refused and must be renewed by a person",
                V1.MailboxState.Disabled => "an operator disabled it",
                _ => "it is not active",
            };
            throw Failures.MailboxNotActive(mailbox.Id, why, ProtoName(mailbox.State));
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,100}$")]
    private static partial Regex ConsumerPattern();

    /// <summary>The proto enum value name (MAILBOX_STATE_PENDING_AUTHORIZATION), which callers see in every SDK, not the C# one.</summary>
    private static string ProtoName(V1.MailboxState state) =>
        V1.MailboxReflection.Descriptor.FindTypeByName<Google.Protobuf.Reflection.EnumDescriptor>("mailgrpc.v1.MailboxState")?.FindValueByNumber((int)state)?.Name ?? state.ToString();
}
