namespace MailGrpc.Server.Errors;

/// <summary>
/// An error the caller should see as-is: a kind (the edge maps it to a status code), a stable reason and a message that never holds a secret.
/// Thrown anywhere; the gRPC edge (<c>GrpcApi/Interceptors/ErrorInterceptor</c>, through <see cref="ExceptionMapper"/>) turns it into a <c>google.rpc.Status</c>.
/// </summary>
internal sealed class MailGrpcException : Exception
{
    public MailGrpcException(ErrorKind kind, string reason, string message, IReadOnlyDictionary<string, string>? metadata = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Reason = reason;
        Metadata = metadata ?? new Dictionary<string, string>();
    }

    public ErrorKind Kind { get; }

    public string Reason { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>When the provider said how long to wait (Retry-After): sent as <c>google.rpc.RetryInfo</c>.</summary>
    public TimeSpan? RetryDelay { get; init; }

    public static MailGrpcException InvalidArgument(string reason, string field, string message) =>
        new(ErrorKind.InvalidArgument, reason, message, new Dictionary<string, string> { ["field"] = field });

    public static MailGrpcException NotFound(string reason, string message) => new(ErrorKind.NotFound, reason, message);

    public static MailGrpcException FailedPrecondition(string reason, string message) => new(ErrorKind.FailedPrecondition, reason, message);

    public static MailGrpcException PermissionDenied(string reason, string message) => new(ErrorKind.PermissionDenied, reason, message);

    public static MailGrpcException Aborted(string reason, string message) => new(ErrorKind.Aborted, reason, message);

    public static MailGrpcException Unavailable(string reason, string message, Exception? inner = null) => new(ErrorKind.Unavailable, reason, message, inner: inner);

    public static MailGrpcException ResourceExhausted(string reason, string message) => new(ErrorKind.ResourceExhausted, reason, message);

    public static MailGrpcException MailboxNotFound(string mailboxId) =>
        new(ErrorKind.NotFound, ErrorReasons.MailboxNotFound, $"Mailbox '{mailboxId}' does not exist.", new Dictionary<string, string> { ["mailbox_id"] = mailboxId });
}
