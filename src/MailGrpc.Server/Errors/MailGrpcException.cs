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
}
