namespace MailGrpc.Server.Errors;

/// <summary>
/// The stable <c>google.rpc.ErrorInfo.reason</c> codes MailGrpc returns. docs/errors.md lists them for callers;
/// a code, once shipped, never changes meaning.
/// </summary>
internal static class ErrorReasons
{
    public const string Domain = "mailgrpc.v1";

    // Callers and tenants.
    public const string ApiKeyMissing = "API_KEY_MISSING";
    public const string ApiKeyInvalid = "API_KEY_INVALID";

    // Generic request validation.
    public const string InvalidArgument = "INVALID_ARGUMENT";
    public const string InvalidMailboxId = "INVALID_MAILBOX_ID";
    public const string InvalidUsername = "INVALID_USERNAME";
    public const string InvalidDisplayName = "INVALID_DISPLAY_NAME";
    public const string InvalidHost = "INVALID_HOST";
    public const string InvalidPort = "INVALID_PORT";
    public const string InvalidSecurity = "INVALID_SECURITY";
    public const string InvalidProvider = "INVALID_PROVIDER";
    public const string ServerRequired = "SERVER_REQUIRED";
    public const string AuthMethodRequired = "AUTH_METHOD_REQUIRED";
    public const string UnknownOAuthClient = "UNKNOWN_OAUTH_CLIENT";
    public const string InvalidPageToken = "INVALID_PAGE_TOKEN";
    public const string InvalidPageSize = "INVALID_PAGE_SIZE";
    public const string InvalidUpdateMask = "INVALID_UPDATE_MASK";
    public const string InvalidStateTransition = "INVALID_STATE_TRANSITION";
    public const string HostNotAllowed = "HOST_NOT_ALLOWED";

    // Mailboxes.
    public const string MailboxNotFound = "MAILBOX_NOT_FOUND";
    public const string MailboxAlreadyExists = "MAILBOX_ALREADY_EXISTS";
    public const string EtagMismatch = "ETAG_MISMATCH";

    // Server side.
    public const string StoreUnavailable = "STORE_UNAVAILABLE";
    public const string Timeout = "TIMEOUT";
    public const string Internal = "INTERNAL";
    public const string NotImplemented = "NOT_IMPLEMENTED";
    public const string Cancelled = "CANCELLED";
    public const string DeadlineExceeded = "DEADLINE_EXCEEDED";
}
