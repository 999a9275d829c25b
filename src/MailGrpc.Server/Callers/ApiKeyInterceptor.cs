using Grpc.Core;
using Grpc.Core.Interceptors;
using MailGrpc.Server.Errors;

namespace MailGrpc.Server.Callers;

/// <summary>
/// Authenticates every MailGrpc call by its <c>x-api-key</c> metadata and records the caller's tenant. Health and
/// reflection stay open so probes and grpcurl work without a key.
/// </summary>
internal sealed class ApiKeyInterceptor(ApiKeyAuthenticator authenticator) : Interceptor
{
    public const string HeaderName = "x-api-key";

    /// <summary>Longer keys are refused with API_KEY_INVALID without hashing (see <see cref="Hosting.RequestHeaderLimits"/>).</summary>
    public const int MaxApiKeyLength = 1024;
    private const string ProtectedPrefix = "/mailgrpc.v1.";

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, responseStream, context);
    }

    private void Authenticate(ServerCallContext context)
    {
        if (!context.Method.StartsWith(ProtectedPrefix, StringComparison.Ordinal))
        {
            return;
        }

        var apiKey = context.RequestHeaders.GetValue(HeaderName);
        if (authenticator.IsAnonymousMode)
        {
            // Start-up refuses anonymous mode on anything but loopback (see AnonymousModeGuard).
            CallerTenant.Set(context, CallerTenant.Anonymous);
            return;
        }

        if (string.IsNullOrEmpty(apiKey))
        {
            throw new MailGrpcException(ErrorKind.Unauthenticated, ErrorReasons.ApiKeyMissing, $"Send an API key in the '{HeaderName}' metadata.");
        }

        // An oversized key is refused before any work; the key itself is never echoed.
        var tenant = (apiKey.Length > MaxApiKeyLength ? null : authenticator.FindTenant(apiKey))
            ?? throw new MailGrpcException(ErrorKind.Unauthenticated, ErrorReasons.ApiKeyInvalid, "The API key is not valid.");
        CallerTenant.Set(context, tenant);
    }
}
