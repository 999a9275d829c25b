using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using StackExchange.Redis;

namespace MailGrpc.Server.Errors;

/// <summary>
/// The one place where exceptions become gRPC statuses. Every <c>RpcException</c> the server sends carries a
/// <c>google.rpc.Status</c> with an <c>ErrorInfo</c>. Unknown exceptions become INTERNAL without their message,
/// which could hold anything (a token in a URL, a password in a protocol trace).
/// </summary>
internal static class ExceptionMapper
{
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
            Code = (int)error.Code,
            Message = error.Message,
            Details = { Any.Pack(info) },
        };
        return status.ToRpcException();
    }

    /// <summary>Maps any exception to the error the caller sees. Extend here, and only here.</summary>
    public static MailGrpcException Classify(Exception exception, CancellationToken callCancelled) => exception switch
    {
        MailGrpcException mapped => mapped,
        _ when ExtraMappings(exception) is { } mapped => mapped,
        RedisConnectionException or RedisTimeoutException =>
            MailGrpcException.Unavailable(ErrorReasons.StoreUnavailable, "The state store (Redis) is unavailable; retry later.", exception),
        OperationCanceledException when callCancelled.IsCancellationRequested =>
            new MailGrpcException(StatusCode.Cancelled, ErrorReasons.Cancelled, "The call was cancelled."),
        OperationCanceledException or TimeoutException =>
            MailGrpcException.Unavailable(ErrorReasons.Timeout, "An upstream operation timed out; retry later.", exception),
        _ => new MailGrpcException(StatusCode.Internal, ErrorReasons.Internal, "Internal error."),
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
    ];
}
