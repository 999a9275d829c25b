namespace MailGrpc.Server.Errors;

/// <summary>The mailbox registry's failures (docs/errors.md, "Mailboxes").</summary>
internal static partial class Failures
{
    public static MailGrpcException MailboxNotFound(string mailboxId) => new(
        ErrorKind.NotFound,
        ErrorReasons.MailboxNotFound,
        $"Mailbox '{mailboxId}' does not exist.",
        new Dictionary<string, string> { ["mailbox_id"] = mailboxId });

    public static MailGrpcException MailboxAlreadyExists(string mailboxId) =>
        new(ErrorKind.AlreadyExists, ErrorReasons.MailboxAlreadyExists, $"Mailbox '{mailboxId}' already exists.");

    /// <summary>The caller's etag is not the stored one.</summary>
    public static MailGrpcException EtagMismatch() =>
        new(ErrorKind.Aborted, ErrorReasons.EtagMismatch, "The mailbox was changed since this etag was read; read it again and retry.");

    /// <summary>A server-side change lost the race <c>MaxConflictRetries</c> times in a row.</summary>
    public static MailGrpcException MailboxChangedConcurrently() =>
        new(ErrorKind.Aborted, ErrorReasons.EtagMismatch, "The mailbox is being changed concurrently; retry.");

    public static MailGrpcException MailboxRequired() => InvalidArgument("mailbox", "mailbox is required.");

    public static MailGrpcException InvalidMailboxId(string field) =>
        Invalid(ErrorReasons.InvalidMailboxId, field, "mailbox_id must be 1-63 characters of a-z, 0-9 and '-', starting with a letter.");

    public static MailGrpcException InvalidUsername(int maxLength) =>
        Invalid(ErrorReasons.InvalidUsername, "mailbox.username", $"username is required: 1-{maxLength} characters without white space or control characters.");

    public static MailGrpcException InvalidDisplayName(int maxLength) =>
        Invalid(ErrorReasons.InvalidDisplayName, "mailbox.display_name", $"display_name must be at most {maxLength} characters without control characters.");

    public static MailGrpcException InvalidHost() =>
        Invalid(ErrorReasons.InvalidHost, "mailbox.server.host", "server.host must be a DNS name (IDNA allowed) or an IP address.");

    public static MailGrpcException InvalidPort() =>
        Invalid(ErrorReasons.InvalidPort, "mailbox.server.port", "server.port must be between 1 and 65535.");

    public static MailGrpcException InvalidSecurity() =>
        Invalid(ErrorReasons.InvalidSecurity, "mailbox.server.security", "server.security is not a known value.");

    public static MailGrpcException InvalidProvider() =>
        Invalid(ErrorReasons.InvalidProvider, "mailbox.provider", "provider is not a known value.");

    /// <summary>The provider asked for is not the one of the named OAuth client (names are the API's enum names).</summary>
    public static MailGrpcException ProviderMismatch(string provider, string clientProvider) =>
        Invalid(ErrorReasons.InvalidProvider, "mailbox.provider", $"provider {provider} does not match the OAuth client's provider {clientProvider}.");

    public static MailGrpcException InvalidUpdateMask(IEnumerable<string> updatablePaths) =>
        Invalid(ErrorReasons.InvalidUpdateMask, "update_mask", $"update_mask is required and may name only: {string.Join(", ", updatablePaths)}.");

    public static MailGrpcException InvalidStateTransition() =>
        Invalid(ErrorReasons.InvalidStateTransition, "mailbox.state", "state can only be set to DISABLED, or from DISABLED back to ACTIVE.");

    public static MailGrpcException UnknownOAuthClient() =>
        Invalid(ErrorReasons.UnknownOAuthClient, "mailbox.auth_method.oauth.client", "auth_method.oauth.client must name an OAuth client configured on the server (MailGrpc:OAuthClients:<name>).");

    public static MailGrpcException InvalidOAuthMechanism() =>
        InvalidArgument("mailbox.auth_method.oauth.mechanism", "auth_method.oauth.mechanism is not a known value.");

    public static MailGrpcException AuthMethodRequired() =>
        Invalid(ErrorReasons.AuthMethodRequired, "mailbox.auth_method", "auth_method is required: oauth (with a configured client name) or password.");

    public static MailGrpcException ServerRequired() =>
        Invalid(ErrorReasons.ServerRequired, "mailbox.server", "server is required for generic providers and password mailboxes without a provider preset.");
}
