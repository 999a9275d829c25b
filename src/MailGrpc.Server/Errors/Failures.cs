namespace MailGrpc.Server.Errors;

/// <summary>
/// One named factory per reason the core throws, so a throw site says what went wrong (<c>throw Failures.InvalidPageSize();</c>)
/// and the kind, reason, message and metadata of each failure are written once. The gRPC edge maps the kind to a status
/// (<see cref="ExceptionMapper"/>). This file holds the common failures (store, validation, generic); each area adds its
/// own in <c>Failures.&lt;Area&gt;.cs</c>.
/// </summary>
internal static partial class Failures
{
    /// <summary>The metadata key naming the request field a validation failure is about.</summary>
    public const string FieldKey = "field";

    /// <summary>A field that is missing or not a known value, with no more specific reason.</summary>
    public static MailGrpcException InvalidArgument(string field, string message) =>
        Invalid(ErrorReasons.InvalidArgument, field, message);

    /// <summary>A request field that fails its rule; <paramref name="reason"/> names the rule (<c>INVALID_…</c>).</summary>
    public static MailGrpcException Invalid(string reason, string field, string message) =>
        new(ErrorKind.InvalidArgument, reason, message, new Dictionary<string, string> { [FieldKey] = field });

    public static MailGrpcException InvalidPageSize() =>
        Invalid(ErrorReasons.InvalidPageSize, "page_size", "page_size must not be negative.");

    public static MailGrpcException InvalidPageToken() =>
        Invalid(ErrorReasons.InvalidPageToken, "page_token", "The page token is not one this server issued for this listing.");

    /// <summary>A request body that does not decode as the method's request message; <paramref name="cause"/> is <c>invalid_utf8</c> or <c>malformed_protobuf</c>.</summary>
    public static MailGrpcException MalformedRequest(string cause) => new(
        ErrorKind.InvalidArgument,
        ErrorReasons.InvalidArgument,
        cause == "invalid_utf8"
            ? "The request message has a string field that is not valid UTF-8."
            : "The request body is not a valid protobuf encoding of the request message (truncated or malformed).",
        new Dictionary<string, string> { [FieldKey] = "request", ["cause"] = cause });

    /// <summary>Redis could not answer; <paramref name="condition"/> (CLUSTERDOWN, LOADING, …) goes to <see cref="ExceptionMapper.StoreConditionKey"/>.</summary>
    public static MailGrpcException StoreUnavailable(string condition, Exception inner) => new(
        ErrorKind.Unavailable,
        ErrorReasons.StoreUnavailable,
        $"The state store (Redis) is unavailable ({condition}); retry later.",
        new Dictionary<string, string> { [ExceptionMapper.StoreConditionKey] = condition },
        inner);

    public static MailGrpcException HostNotAllowed(string host) => new(
        ErrorKind.PermissionDenied,
        ErrorReasons.HostNotAllowed,
        $"POP3 host '{host}' is, is named as, or resolves to a loopback, private, link-local or metadata address; an operator can allow it with MailGrpc:Network:AllowedHosts.",
        new Dictionary<string, string> { ["host"] = host });

    public static MailGrpcException ServerDraining(Exception? inner) => new(
        ErrorKind.Unavailable,
        ErrorReasons.ServerDraining,
        "The server is shutting down; call again (another replica serves it) with only_unacknowledged to resume where this stream stopped.",
        new Dictionary<string, string> { ["resume"] = "only_unacknowledged" },
        inner);

    public static MailGrpcException Cancelled() => new(ErrorKind.Cancelled, ErrorReasons.Cancelled, "The call was cancelled.");

    public static MailGrpcException Timeout(Exception inner) =>
        new(ErrorKind.Unavailable, ErrorReasons.Timeout, "An upstream operation timed out; retry later.", inner: inner);

    /// <summary>A bug: the message says nothing, because the exception's could hold anything (a token in a URL, a password in a trace).</summary>
    public static MailGrpcException Internal() => new(ErrorKind.Internal, ErrorReasons.Internal, "Internal error.");
}
