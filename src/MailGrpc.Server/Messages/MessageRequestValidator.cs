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
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidConsumer, field, "consumer must be 1 to 100 characters of A-Z a-z 0-9 . _ -.");
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
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidUid, field, "A uid is 1 to 70 printable ASCII characters without spaces (POP3 UIDL).");
        }

        return value;
    }

    public static IReadOnlyList<string> Uids(IReadOnlyList<string> values, bool allowEmpty)
    {
        if ((!allowEmpty && values.Count == 0) || values.Count > MaxUidsPerCall)
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidUids, "uids", $"uids must hold 1 to {MaxUidsPerCall} entries.");
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

    public static bool HeadersOnly(V1.MessageView view) => view switch
    {
        V1.MessageView.Unspecified or V1.MessageView.Full => false,
        V1.MessageView.Headers => true,
        _ => throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidView, "view", "view must be MESSAGE_VIEW_FULL or MESSAGE_VIEW_HEADERS."),
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
            throw new MailGrpcException(
                ErrorKind.FailedPrecondition,
                ErrorReasons.MailboxNotActive,
                $"Mailbox '{mailbox.Id}' cannot be read: {why}.",
                new Dictionary<string, string> { ["mailbox_id"] = mailbox.Id, ["state"] = ProtoName(GrpcApi.MailboxProtoMapper.ToProto(mailbox.State)) });
        }
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,100}$")]
    private static partial Regex ConsumerPattern();

    /// <summary>The proto enum value name (MAILBOX_STATE_PENDING_AUTHORIZATION), which callers see in every SDK, not the C# one.</summary>
    private static string ProtoName(V1.MailboxState state) =>
        V1.MailboxReflection.Descriptor.FindTypeByName<Google.Protobuf.Reflection.EnumDescriptor>("mailgrpc.v1.MailboxState")?.FindValueByNumber((int)state)?.Name ?? state.ToString();
}
