using System.Net;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;

namespace MailGrpc.Tests.Contract;

/// <summary>
/// The framing guard on the real server process: Kestrel, a real HTTP/2 (h2c) connection from SocketsHttpHandler, a
/// truncated message (the prefix declares more than the body holds) on a unary and a server-streaming method, direct and
/// through nginx.
/// </summary>
[Collection("pop3")]
public sealed class RequestFramingKestrelTests(Pop3Rig rig)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_truncated_message_over_real_http2_is_invalid_argument_incomplete_message_and_a_whole_one_reaches_the_method(bool viaNginx)
    {
        var tenant = TestTenant.Create("framing");
        await using var server = await ServerProcess.StartAsync(rig.ServerProcessSettings(tenant));
        // nginx (grpc_pass over h2c) forwards the body as it is: the server's answer passes through it.
        await using var proxy = viaNginx ? await Faults.NginxProxy.StartAsync(server.GrpcPort) : null;
        using var client = new HttpClient(new SocketsHttpHandler()) { BaseAddress = proxy?.Address ?? server.Address, DefaultRequestVersion = HttpVersion.Version20 };

        foreach (var path in new[] { RequestFramingTests.Unary, RequestFramingTests.ServerStreaming })
        {
            var truncated = await RequestFramingTests.SendAsync(client, new Uri(path, UriKind.Relative), tenant.ApiKey, RequestFramingTests.Truncated());
            Assert.True(truncated.Code == (int)Grpc.Core.StatusCode.InvalidArgument, $"{path}: got {truncated.Code} {truncated.Message}");
            Assert.Equal("INVALID_ARGUMENT", truncated.Info.Reason);
            Assert.Equal("incomplete_message", truncated.Info.Metadata["cause"]);
            Assert.DoesNotContain(RequestFramingTests.Marker, truncated.AllText, StringComparison.Ordinal);

            var whole = await RequestFramingTests.SendAsync(client, new Uri(path, UriKind.Relative), tenant.ApiKey, RequestFramingTests.WellFramed());
            Assert.True(whole.Code == (int)Grpc.Core.StatusCode.NotFound, $"{path}: got {whole.Code} {whole.Message}");
            Assert.Equal("MAILBOX_NOT_FOUND", whole.Info.Reason);
        }
    }
}
