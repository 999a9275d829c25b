using MailGrpc.Server.Network;
using System.Text.RegularExpressions;
using MailGrpc.Server.Errors;
using V1 = MailGrpc.V1;

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
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidMailboxId, field, "mailbox_id must be 1-63 characters of a-z, 0-9 and '-', starting with a letter.");
        }

        return id;
    }

    public static string ValidateUsername(string username)
    {
        if (username.Length == 0 || username.Length > MaxUsernameLength || username.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidUsername, "mailbox.username", $"username is required: 1-{MaxUsernameLength} characters without white space or control characters.");
        }

        return username;
    }

    public static string ValidateDisplayName(string displayName)
    {
        if (displayName.Length > MaxDisplayNameLength || displayName.Any(char.IsControl))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidDisplayName, "mailbox.display_name", $"display_name must be at most {MaxDisplayNameLength} characters without control characters.");
        }

        return displayName;
    }

    public static string ValidateHost(string host)
    {
        var normalized = HostNames.Normalize(host);
        var kind = normalized is { Length: > 0 and <= 253 } ? Uri.CheckHostName(normalized.Trim('[', ']')) : UriHostNameType.Unknown;
        if (normalized is null || kind is UriHostNameType.Unknown or UriHostNameType.Basic)
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidHost, "mailbox.server.host", "server.host must be a DNS name (IDNA allowed) or an IP address.");
        }

        return normalized.Trim('[', ']');
    }

    public static int ValidatePort(int port)
    {
        if (port is < 1 or > 65535)
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidPort, "mailbox.server.port", "server.port must be between 1 and 65535.");
        }

        return port;
    }

    public static V1.Security ValidateSecurity(V1.Security security)
    {
        if (!Enum.IsDefined(security))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidSecurity, "mailbox.server.security", "server.security is not a known value.");
        }

        return security == V1.Security.Unspecified ? V1.Security.ImplicitTls : security;
    }

    public static V1.Provider ValidateProvider(V1.Provider provider)
    {
        if (!Enum.IsDefined(provider))
        {
            throw MailGrpcException.InvalidArgument(ErrorReasons.InvalidProvider, "mailbox.provider", "provider is not a known value.");
        }

        return provider;
    }

    [GeneratedRegex("^[a-z][a-z0-9-]{0,62}$")]
    private static partial Regex MailboxIdPattern();
}
