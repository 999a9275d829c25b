namespace MailGrpc.Server.Errors;

/// <summary>Callers: the API key check (Callers/ApiKeyAuthenticationHandler).</summary>
internal static partial class Failures
{
    /// <summary>No API key was sent while API keys are configured.</summary>
    public static MailGrpcException ApiKeyMissing(string headerName) =>
        new(ErrorKind.Unauthenticated, ErrorReasons.ApiKeyMissing, $"Send an API key in the '{headerName}' metadata.");

    /// <summary>The key matches no configured hash, or is too long to be one. The key itself is never part of the error.</summary>
    public static MailGrpcException ApiKeyInvalid() =>
        new(ErrorKind.Unauthenticated, ErrorReasons.ApiKeyInvalid, "The API key is not valid.");
}
