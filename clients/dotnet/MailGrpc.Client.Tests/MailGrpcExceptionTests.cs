using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using MailGrpc.V1;

namespace MailGrpc.Client.Tests;

public sealed class MailGrpcExceptionTests
{
    private static RpcException Refusal(StatusCode code, string reason, params (string Key, string Value)[] metadata)
    {
        var info = new ErrorInfo { Reason = reason, Domain = "mailgrpc.v1" };
        foreach (var (key, value) in metadata)
        {
            info.Metadata[key] = value;
        }

        return new Google.Rpc.Status { Code = (int)code, Message = "refused", Details = { Any.Pack(info) } }.ToRpcException();
    }

    [Fact]
    public void A_known_reason_becomes_the_enum_value_with_its_metadata()
    {
        var error = Assert.IsType<MailGrpcException>(MailGrpcException.From(Refusal(StatusCode.NotFound, "MAILBOX_NOT_FOUND", ("mailbox_id", "m1"))));
        Assert.Equal(ErrorReason.MailboxNotFound, error.Reason);
        Assert.Equal("MAILBOX_NOT_FOUND", error.ReasonString);
        Assert.Equal("mailgrpc.v1", error.Domain);
        Assert.Equal("m1", error.Metadata["mailbox_id"]);
        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.False(error.IsTransient);
    }

    [Fact]
    public void A_reason_newer_than_the_sdk_keeps_its_string()
    {
        var error = Assert.IsType<MailGrpcException>(MailGrpcException.From(Refusal(StatusCode.Unavailable, "SOMETHING_NEW")));
        Assert.Equal(ErrorReason.Unspecified, error.Reason);
        Assert.Equal("SOMETHING_NEW", error.ReasonString);
        Assert.True(error.IsTransient);
    }

    [Fact]
    public void A_status_without_details_stays_as_it_is()
    {
        var plain = new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, "proxy"));
        Assert.Same(plain, MailGrpcException.From(plain));
    }
}
