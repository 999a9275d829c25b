using Google.Rpc;
using Grpc.Core;

namespace MailGrpc.Tests.Infrastructure;

/// <summary>Asserts on gRPC failures: the status code and the <c>ErrorInfo.reason</c> every MailGrpc error carries.</summary>
public static class RpcAssert
{
    public static async Task<RpcException> FailsAsync(StatusCode code, string reason, Func<Task> call)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(call);
        Assert.True(code == ex.StatusCode, $"Expected {code}/{reason}, got {ex.StatusCode}: {ex.Status.Detail}");
        Assert.Equal(reason, Reason(ex));
        return ex;
    }

    public static string? Reason(RpcException ex) => ex.GetRpcStatus()?.GetDetail<ErrorInfo>()?.Reason;
}
