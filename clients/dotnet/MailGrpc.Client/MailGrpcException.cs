using System.Collections.ObjectModel;
using Google.Rpc;
using Grpc.Core;
using MailGrpc.V1;

namespace MailGrpc.Client;

/// <summary>
/// A call MailGrpc refused: an <see cref="RpcException"/> (so existing <c>catch (RpcException)</c> still works) that also
/// carries the <c>google.rpc.ErrorInfo</c> the server sent. Branch on <see cref="Reason"/>, never on the message;
/// docs/errors.md lists every reason.
/// </summary>
public sealed class MailGrpcException : RpcException
{
    private MailGrpcException(RpcException inner, ErrorInfo info)
        : base(inner.Status, inner.Trailers, inner.Message)
    {
        ReasonString = info.Reason;
        // The enum's value names are the reason strings.
        Reason = ErrorReasonReflection.Descriptor.EnumTypes[0].FindValueByName(info.Reason) is { Number: > 0 } value
            ? (ErrorReason)value.Number
            : ErrorReason.Unspecified;
        Domain = info.Domain;
        Metadata = new ReadOnlyDictionary<string, string>(new Dictionary<string, string>(info.Metadata, StringComparer.Ordinal));
    }

    /// <summary>The reason as the enum generated from the contract; <see cref="ErrorReason.Unspecified"/> for a reason this SDK version does not know (see <see cref="ReasonString"/>).</summary>
    public ErrorReason Reason { get; }

    /// <summary>The reason exactly as sent (for example <c>MAILBOX_NOT_FOUND</c>), also when newer than this SDK.</summary>
    public string ReasonString { get; }

    /// <summary>The error domain, <c>mailgrpc.v1</c>.</summary>
    public string Domain { get; }

    /// <summary>What the error is about (<c>field</c>, <c>mailbox_id</c>, <c>state</c>, <c>cause</c>, …); never a secret.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Whether the SDK's retry policy treats the status as transient (UNAVAILABLE); anything else says what to fix.</summary>
    public bool IsTransient => StatusCode == StatusCode.Unavailable;

    /// <summary>The <see cref="MailGrpcException"/> for a refused call that carries an ErrorInfo, else the exception itself.</summary>
    /// <param name="exception">What the gRPC client threw.</param>
    /// <returns>A <see cref="MailGrpcException"/>, or <paramref name="exception"/> when it has no ErrorInfo.</returns>
    public static RpcException From(RpcException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception is MailGrpcException)
        {
            return exception;
        }

        try
        {
            return exception.GetRpcStatus()?.GetDetail<ErrorInfo>() is { } info ? new MailGrpcException(exception, info) : exception;
        }
        catch (Google.Protobuf.InvalidProtocolBufferException)
        {
            return exception; // Not a google.rpc.Status (e.g. a proxy's error): keep the status as it is.
        }
    }
}
