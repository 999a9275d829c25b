using Grpc.Core;
using MailGrpc.Server.Callers;
using Microsoft.AspNetCore.Http;

namespace MailGrpc.Tests.Infrastructure;

/// <summary>
/// A <see cref="ServerCallContext"/> for calling a gRPC service's methods directly, without a server (grpc-dotnet's Tester
/// example). Only what the services read is real: the method name, the cancellation token and the user state.
/// </summary>
public sealed class TestServerCallContext : ServerCallContext
{
    private readonly Dictionary<object, object> _userState = [];

    private TestServerCallContext(string method, CancellationToken cancellationToken)
    {
        MethodCore = method;
        CancellationTokenCore = cancellationToken;
    }

    public static TestServerCallContext Create(string method = "/mailgrpc.v1.MailboxService/Test", CancellationToken cancellationToken = default) =>
        new(method, cancellationToken);

    /// <summary>
    /// A call by an authenticated caller of <paramref name="tenant"/>: the principal ASP.NET Core authentication would have
    /// put on the request (grpc-dotnet's <c>GetHttpContext()</c> reads the <c>__HttpContext</c> user state outside a server).
    /// </summary>
    public static TestServerCallContext ForTenant(string tenant, string method = "/mailgrpc.v1.MailboxService/Test", CancellationToken cancellationToken = default)
    {
        var context = new TestServerCallContext(method, cancellationToken);
        context.UserState["__HttpContext"] = new DefaultHttpContext { User = CallerClaims.Principal(tenant, "test") };
        return context;
    }

    protected override string MethodCore { get; }

    protected override string HostCore => "localhost";

    protected override string PeerCore => "ipv4:127.0.0.1:50000";

    protected override DateTime DeadlineCore => DateTime.MaxValue;

    protected override Metadata RequestHeadersCore { get; } = [];

    protected override CancellationToken CancellationTokenCore { get; }

    protected override Metadata ResponseTrailersCore { get; } = [];

    protected override Status StatusCore { get; set; }

    protected override WriteOptions? WriteOptionsCore { get; set; }

    protected override AuthContext AuthContextCore { get; } = new(null, []);

    protected override IDictionary<object, object> UserStateCore => _userState;

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => throw new NotSupportedException();

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
}
