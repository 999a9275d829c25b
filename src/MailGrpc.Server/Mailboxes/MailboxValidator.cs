using MailGrpc.Server.Network;
using System.Text.RegularExpressions;
using MailGrpc.Server.Errors;

namespace MailGrpc.Server.Mailboxes;

/// <summary>Field rules shared by create and update. Each failure names its field and a stable reason.</summary>
internal static partial class MailboxValidator
{
    public const int MaxUsernameLength = 320;
    public const int MaxDisplayNameLength = 200;

    public static string ValidateMailboxId(string id, string field = "mailbox_id")
    {
        if (!MailboxIdPattern().IsMatch(id))
        {
            throw Failures.InvalidMailboxId(field);
        }

        return id;
    }

    public static string ValidateUsername(string username)
    {
        if (username.Length == 0 || username.Length > MaxUsernameLength || username.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw Failures.InvalidUsername(MaxUsernameLength);
        }

        return username;
    }

    public static string ValidateDisplayName(string displayName)
    {
        if (displayName.Length > MaxDisplayNameLength || displayName.Any(char.IsControl))
        {
            throw Failures.InvalidDisplayName(MaxDisplayNameLength);
        }

        return displayName;
    }

    public static string ValidateHost(string host)
    {
        var normalized = HostNames.Normalize(host);
        var kind = normalized is { Length: > 0 and <= 253 } ? Uri.CheckHostName(normalized.Trim('[', ']')) : UriHostNameType.Unknown;
        if (normalized is null || kind is UriHostNameType.Unknown or UriHostNameType.Basic)
        {
            throw Failures.InvalidHost();
        }

        return normalized.Trim('[', ']');
    }

    public static int ValidatePort(int port)
    {
        if (port is < 1 or > 65535)
        {
            throw Failures.InvalidPort();
        }

        return port;
    }

    /// <summary>The security to use; null (a value the server does not know) is refused, unspecified means implicit TLS.</summary>
    public static Pop3Security ValidateSecurity(Pop3Security? security) => security switch
    {
        null => throw Failures.InvalidSecurity(),
        Pop3Security.Unspecified => Pop3Security.ImplicitTls,
        { } known => known,
    };

    /// <summary>The provider; null (a value the server does not know) is refused.</summary>
    public static MailboxProvider ValidateProvider(MailboxProvider? provider) => provider ?? throw Failures.InvalidProvider();

    [GeneratedRegex("^[a-z][a-z0-9-]{0,62}$")]
    private static partial Regex MailboxIdPattern();
}
