using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;

namespace MailGrpc.Server.Errors;

/// <summary>
/// The one place where exceptions become gRPC statuses. Every <c>RpcException</c> the server sends carries a
/// <c>google.rpc.Status</c> with an <c>ErrorInfo</c>. Unknown exceptions become INTERNAL without their message,
/// which could hold anything (a token in a URL, a password in a protocol trace).
/// </summary>
internal static class ExceptionMapper
{
    /// <summary>The ErrorInfo metadata key naming the Redis condition behind <c>STORE_UNAVAILABLE</c> (e.g. <c>CLUSTERDOWN</c>).</summary>
    public const string StoreConditionKey = "store_condition";

    public static RpcException ToRpcException(Exception exception, CancellationToken callCancelled)
    {
        var error = Classify(exception, callCancelled);
        return ToRpcException(error);
    }

    public static RpcException ToRpcException(MailGrpcException error)
    {
        var info = new ErrorInfo { Reason = error.Reason, Domain = ErrorReasons.Domain };
        foreach (var (key, value) in error.Metadata)
        {
            info.Metadata[key] = value;
        }

        var status = new Google.Rpc.Status
        {
            Code = (int)ToStatusCode(error.Kind),
            Message = error.Message,
            Details = { Any.Pack(info) },
        };
        if (error.RetryDelay is { } delay && delay > TimeSpan.Zero)
        {
            status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(delay) }));
        }

        return status.ToRpcException();
    }

    /// <summary>The one status code each kind of error is sent as.</summary>
    public static StatusCode ToStatusCode(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        ErrorKind.NotFound => StatusCode.NotFound,
        ErrorKind.AlreadyExists => StatusCode.AlreadyExists,
        ErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
        ErrorKind.PermissionDenied => StatusCode.PermissionDenied,
        ErrorKind.Unauthenticated => StatusCode.Unauthenticated,
        ErrorKind.Aborted => StatusCode.Aborted,
        ErrorKind.Unavailable => StatusCode.Unavailable,
        ErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        ErrorKind.Cancelled => StatusCode.Cancelled,
        _ => StatusCode.Internal,
    };

    /// <summary>
    /// The status for a request body that does not decode as the method's request message (its deserializer threw), or
    /// null when the exception says nothing about the bytes. Nothing of the body is echoed.
    /// </summary>
    public static RpcException? MalformedRequest(Exception exception)
    {
        // Google.Protobuf wraps the UTF-8 decoder's failure in InvalidProtocolBufferException.
        var cause = exception switch
        {
            System.Text.DecoderFallbackException or Google.Protobuf.InvalidProtocolBufferException { InnerException: System.Text.DecoderFallbackException } => "invalid_utf8",
            Google.Protobuf.InvalidProtocolBufferException => "malformed_protobuf",
            _ => null,
        };
        return cause is null ? null : ToRpcException(Failures.MalformedRequest(cause));
    }

    /// <summary>Maps any exception to the error the caller sees. Extend here, and only here.</summary>
    public static MailGrpcException Classify(Exception exception, CancellationToken callCancelled) => exception switch
    {
        MailGrpcException mapped => mapped,
        _ when ExtraMappings(exception) is { } mapped => mapped,
        _ when MailGrpc.Server.Storage.StoreConditions.Classify(exception) is { } condition => Failures.StoreUnavailable(condition, exception),
        OperationCanceledException when callCancelled.IsCancellationRequested => Failures.Cancelled(),
        OperationCanceledException or TimeoutException => Failures.Timeout(exception),
        _ => Failures.Internal(),
    };

    // Area-specific mappings (POP3, OAuth) are registered here so the table stays in one file.
    private static MailGrpcException? ExtraMappings(Exception exception)
    {
        foreach (var mapping in AreaMappings)
        {
            var mapped = mapping(exception);
            if (mapped is not null)
            {
                return mapped;
            }
        }

        return null;
    }

    private static readonly Func<Exception, MailGrpcException?>[] AreaMappings =
    [
        MailGrpc.Server.Authorization.OAuthErrorMapping.TryMap,
        MapPop3,
    ];

    // POP3 (MailKit and the session layer). A refused credential never arrives here: the session layer retries once and
    // then the token layer decides. Server text is not echoed: it can carry anything.
    private static MailGrpcException? MapPop3(Exception exception) => exception switch
    {
        MailGrpc.Server.Pop3.Pop3TransportException { Failure: MailGrpc.Server.Pop3.Pop3TransportFailure.Connect } e =>
            Failures.Pop3ConnectFailed(e.Message, e),
        MailGrpc.Server.Pop3.Pop3TransportException { Failure: MailGrpc.Server.Pop3.Pop3TransportFailure.Timeout } e =>
            Failures.Pop3Timeout(e.Message, e),
        MailGrpc.Server.Pop3.Pop3TransportException e =>
            Failures.Pop3ConnectionLost(e.Message, e),
        MailKit.Security.SslHandshakeException =>
            Failures.Pop3TlsFailed(),
        MailKit.Net.Pop3.Pop3CommandException e when e.StatusText.Contains("[IN-USE]", StringComparison.OrdinalIgnoreCase) =>
            Failures.Pop3MaildropInUse(e),
        MailKit.Net.Pop3.Pop3CommandException e =>
            Failures.Pop3CommandFailed(e),
        MailKit.Net.Pop3.Pop3ProtocolException or MailKit.ServiceNotConnectedException =>
            Failures.Pop3ConnectionLost("The POP3 connection broke or the server left the protocol.", exception),
        _ => null,
    };
}
