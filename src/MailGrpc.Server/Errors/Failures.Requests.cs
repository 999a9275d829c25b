namespace MailGrpc.Server.Errors;

/// <summary>Request bodies whose gRPC framing is wrong (the 5-byte message prefix and what follows it); nothing of the body is echoed.</summary>
internal static partial class Failures
{
    /// <summary>The metadata key naming the server's receive limit in <see cref="RequestTooLarge"/>.</summary>
    public const string MaxBytesKey = "max_bytes";

    /// <summary>
    /// A body that is not exactly one gRPC message frame; <paramref name="cause"/> is <c>incomplete_message</c> (the body ends
    /// before the length its prefix declares), <c>missing_message</c> (an empty body), <c>trailing_data</c> (bytes after
    /// the one message) or <c>invalid_frame</c> (a compressed flag other than 0 or 1).
    /// </summary>
    public static MailGrpcException MalformedFrame(string cause) => new(
        ErrorKind.InvalidArgument,
        ErrorReasons.InvalidArgument,
        cause switch
        {
            "incomplete_message" => "The request body ends before the message length its gRPC message prefix declares (truncated message).",
            "missing_message" => "The request body holds no gRPC message; this method takes exactly one.",
            "trailing_data" => "The request body holds more than the one gRPC message this method takes.",
            _ => "The request body's gRPC message prefix is not valid (the compressed flag must be 0 or 1).",
        },
        new Dictionary<string, string> { [FieldKey] = "request", ["cause"] = cause });

    /// <summary>A request message longer than the server's receive limit (declared in its prefix, refused before it is read).</summary>
    public static MailGrpcException RequestTooLarge(long maxBytes) => new(
        ErrorKind.ResourceExhausted,
        ErrorReasons.RequestTooLarge,
        $"The request message is larger than the server accepts ({maxBytes} bytes).",
        new Dictionary<string, string> { [MaxBytesKey] = maxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture) });
}
