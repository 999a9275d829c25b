using Grpc.Core;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;

namespace MailGrpc.Tests.Contract;

/// <summary>
/// Request bodies that are not the method's message — truncated, malformed protobuf, a string field that is not UTF-8 —
/// sent as raw bytes over HTTP/2 to a real server process: INVALID_ARGUMENT with an ErrorInfo reason, never UNKNOWN.
/// </summary>
[Collection("pop3")]
public sealed class MalformedRequestTests(Pop3Rig rig)
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(b => b, b => b);

    public static TheoryData<string, byte[], string> Bodies => new()
    {
        // Field 1 (mailbox_id) says 5 bytes, 1 follows.
        { "truncated message", [0x0A, 0x05, (byte)'a'], "malformed_protobuf" },
        // Wire type 7 does not exist.
        { "invalid wire type", [0x0F, 0x01], "malformed_protobuf" },
        // A varint of 11 bytes.
        { "overlong varint", [0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], "malformed_protobuf" },
        // Field 1 holds 0xC3 0x28: not UTF-8.
        { "invalid UTF-8 in a string field", [0x0A, 0x02, 0xC3, 0x28], "invalid_utf8" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task Undecodable_bodies_get_invalid_argument_with_a_reason_on_unary_and_streaming_calls(string name, byte[] body, string cause)
    {
        _ = name; // the case's label in test output
        var tenant = TestTenant.Create("malformed");
        await using var server = await ServerProcess.StartAsync(rig.ServerProcessSettings(tenant));
        var invoker = server.Invoker(tenant.ApiKey);

        var unary = new Method<byte[], byte[]>(MethodType.Unary, "mailgrpc.v1.MailboxService", "GetMailbox", Raw, Raw);
        var error = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_ARGUMENT", async () => await invoker.AsyncUnaryCall(unary, null, new CallOptions(), body));
        Assert.Equal(cause, error.GetRpcStatus()!.GetDetail<Google.Rpc.ErrorInfo>()!.Metadata["cause"]);
        Assert.DoesNotContain("handler", error.Status.Detail, StringComparison.OrdinalIgnoreCase);

        var streaming = new Method<byte[], byte[]>(MethodType.ServerStreaming, "mailgrpc.v1.MessageService", "StreamMessages", Raw, Raw);
        var streamError = await RpcAssert.FailsAsync(StatusCode.InvalidArgument, "INVALID_ARGUMENT", async () =>
        {
            using var call = invoker.AsyncServerStreamingCall(streaming, null, new CallOptions(), body);
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });
        Assert.Equal(cause, streamError.GetRpcStatus()!.GetDetail<Google.Rpc.ErrorInfo>()!.Metadata["cause"]);
    }
}
