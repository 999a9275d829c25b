using Grpc.Core;
using Grpc.Health.V1;
using MailGrpc.Server.GrpcApi;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Callers;

/// <summary>
/// The whole server in process (test server, embedded store, no rig) with a real gRPC client: ASP.NET Core
/// authentication and authorization in front of the MailGrpc services answer exactly what callers always got, and the
/// open endpoints stay open.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class CallerPipelineTests(CallerPipelineTests.Server server) : IClassFixture<CallerPipelineTests.Server>
{
    private readonly TestTenant _alpha = server.Alpha;
    private readonly TestTenant _beta = server.Beta;
    private readonly MailGrpcTestHost _host = server.Host;

    /// <summary>One in-process server for the class, with two tenants' keys.</summary>
    public sealed class Server : IAsyncDisposable
    {
        public TestTenant Alpha { get; } = TestTenant.Create("alpha");

        public TestTenant Beta { get; } = TestTenant.Create("beta");

        public MailGrpcTestHost Host { get; }

        public Server()
        {
            Host = new MailGrpcTestHost(MailGrpcTestHost.ApiKeySettings(Alpha, Beta));
        }

        public ValueTask DisposeAsync() => Host.DisposeAsync();
    }

    [Fact]
    public async Task No_key_is_unauthenticated_api_key_missing_on_every_service_and_call_shape()
    {
        const string message = "Send an API key in the 'x-api-key' metadata.";
        var unary = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, "API_KEY_MISSING", async () => await _host.Mailboxes(null).ListMailboxesAsync(new ListMailboxesRequest()));
        Assert.Equal(message, unary.Status.Detail);
        await RpcAssert.FailsAsync(StatusCode.Unauthenticated, "API_KEY_MISSING", async () => await _host.Authorization(null).GetAuthorizationStatusAsync(new GetAuthorizationStatusRequest()));

        // Server streaming: the refusal arrives on the first read.
        using var stream = _host.Messages(null).StreamMessages(new StreamMessagesRequest { MailboxId = "mbx-1" });
        var streamed = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, "API_KEY_MISSING", async () => await stream.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(message, streamed.Status.Detail);
    }

    [Fact]
    public async Task A_wrong_key_is_unauthenticated_api_key_invalid_and_not_echoed()
    {
        var error = await RpcAssert.FailsAsync(StatusCode.Unauthenticated, "API_KEY_INVALID", async () => await _host.Mailboxes("wrong-" + _alpha.ApiKey).ListMailboxesAsync(new ListMailboxesRequest()));

        Assert.Equal("The API key is not valid.", error.Status.Detail);
        Assert.DoesNotContain(error.Trailers, t => !t.IsBinary && t.Value.Contains(_alpha.ApiKey, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Each_key_sees_only_its_own_tenant()
    {
        var created = await _host.Mailboxes(_alpha.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            Mailbox = Mailboxes.MailboxApiTests.PasswordMailbox(),
        });

        Assert.Contains((await _host.Mailboxes(_alpha.ApiKey).ListMailboxesAsync(new ListMailboxesRequest())).Mailboxes, m => m.MailboxId == created.Mailbox.MailboxId);
        Assert.Empty((await _host.Mailboxes(_beta.ApiKey).ListMailboxesAsync(new ListMailboxesRequest())).Mailboxes);
    }

    [Fact]
    public async Task Health_stays_open_with_no_key_or_a_wrong_one()
    {
        foreach (var key in new[] { null, "wrong-key" })
        {
            var health = new Health.HealthClient(_host.Invoker(key));
            var reply = await health.CheckAsync(new HealthCheckRequest { Service = "liveness" });
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
        }
    }

    [Fact]
    public async Task The_oauth_callback_stays_open_to_a_browser_without_a_key()
    {
        using var web = _host.CreateHttpClient();
        using var response = await web.GetAsync(new Uri("/oauth/callback?state=nope&code=nope", UriKind.Relative));

        // The callback's own answer for an unknown state (a page), not an authentication challenge.
        Assert.NotEqual(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.NotEqual(System.Net.HttpStatusCode.Forbidden, response.StatusCode);
        Assert.StartsWith("text/html", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("The API key is not valid.", "The API key is not valid.")]
    [InlineData("100% sure", "100%25 sure")]
    [InlineData("clé\n", "cl%C3%A9%0A")]
    public void Grpc_messages_are_percent_encoded_as_the_grpc_spec_says(string message, string encoded)
    {
        Assert.Equal(encoded, GrpcRefusal.PercentEncode(message));
    }
}
