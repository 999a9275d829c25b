using System.Text.RegularExpressions;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Mailboxes;

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

    /// <summary>Whether <paramref name="value"/> is a valid consumer name (1 to 100 characters of A-Z a-z 0-9 . _ -).</summary>
    public static bool IsConsumer(string value) => ConsumerPattern().IsMatch(value);

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

    public static void EnsureActive(MailboxRecord mailbox)
    {
        if (mailbox.State != MailboxState.Active)
        {
            var why = mailbox.State switch
            {
                MailboxState.PendingAuthorization => "it has not been authorized yet (complete an authorization or set its password)",
                MailboxState.ReauthorizationRequired => "its authorization was refused and must be renewed by a person",
                MailboxState.Disabled => "an operator disabled it",
                _ => "it is not active",
            };
            throw Failures.MailboxNotActive(mailbox.Id, why, StateName(mailbox.State));
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,100}$")]
    private static partial Regex ConsumerPattern();

    /// <summary>
    /// The state as callers see it in every SDK: the contract's enum value name (MAILBOX_STATE_PENDING_AUTHORIZATION), not
    /// the C# one. <c>MailboxStateNameTests</c> checks these against the proto.
    /// </summary>
    internal static string StateName(MailboxState state) => state switch
    {
        MailboxState.PendingAuthorization => "MAILBOX_STATE_PENDING_AUTHORIZATION",
        MailboxState.Active => "MAILBOX_STATE_ACTIVE",
        MailboxState.ReauthorizationRequired => "MAILBOX_STATE_REAUTHORIZATION_REQUIRED",
        MailboxState.Disabled => "MAILBOX_STATE_DISABLED",
        _ => "MAILBOX_STATE_UNSPECIFIED",
    };
}
