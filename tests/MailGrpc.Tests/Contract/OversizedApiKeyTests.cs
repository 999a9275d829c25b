using Grpc.Core;
using Grpc.Core.Interceptors;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;

namespace MailGrpc.Tests.Contract;

/// <summary>
/// An oversized <c>x-api-key</c> against a real server process (Kestrel's own HTTP/2 header limits in play): a precise
/// status and reason, the key not echoed, and the connection still usable by the next call.
/// </summary>
[Collection("pop3")]
public sealed class OversizedApiKeyTests(Pop3Rig rig)
{
    [Theory]
    [InlineData(300)]
    [InlineData(64 * 1024)]
    [InlineData(1024 * 1024)]
    public async Task An_oversized_api_key_gets_api_key_invalid_without_echo_and_the_connection_survives(int length)
    {
        var tenant = TestTenant.Create("bigkey");
        await using var server = await ServerProcess.StartAsync(rig.ServerProcessSettings(tenant));
        var key = new string('k', length);
        var huge = new MailboxService.MailboxServiceClient(server.Channel.Intercept(m => { m.Add("x-api-key", key); return m; }));

        var error = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, "API_KEY_INVALID", async () => await huge.ListMailboxesAsync(new ListMailboxesRequest()));
        Assert.DoesNotContain("kkkk", error.Status.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(error.Trailers, t => !t.IsBinary && t.Value.Contains("kkkk", StringComparison.Ordinal));

        // Same channel, same HTTP/2 connection: the next call is served.
        var listed = await server.Mailboxes(tenant.ApiKey).ListMailboxesAsync(new ListMailboxesRequest());
        Assert.Empty(listed.Mailboxes);
    }
}
