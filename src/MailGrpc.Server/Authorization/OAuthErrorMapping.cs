using Grpc.Core;
using MailGrpc.Server.Authorization.Providers;
using MailGrpc.Server.Authorization.Secrets;
using MailGrpc.Server.Errors;

namespace MailGrpc.Server.Authorization;

/// <summary>The authorization area's rows of <see cref="ExceptionMapper"/>'s table.</summary>
internal static class OAuthErrorMapping
{
    public static MailGrpcException? TryMap(Exception exception) => exception switch
    {
        OAuthProviderException oauth => Map(oauth),
        SecretUnreadableException unreadable => MailGrpcException.FailedPrecondition(
            ErrorReasons.CredentialUnreadable,
            $"The stored credential cannot be decrypted ({unreadable.Message}); restore the encryption key or authorize the mailbox again."),
        _ => null,
    };

    public static MailGrpcException Map(OAuthProviderException ex)
    {
        if (ex.Data[Providers.Msal.EntraError.DataKey] is Providers.Msal.EntraError entra && MapEntra(ex, entra) is { } precise)
        {
            return precise;
        }

        return MapGeneric(ex);
    }

    private static MailGrpcException MapGeneric(OAuthProviderException ex)
    {
        var metadata = new Dictionary<string, string> { ["provider_error"] = ex.Error };
        var detail = string.IsNullOrEmpty(ex.Description) ? ex.Error : $"{ex.Error}: {ex.Description}";
        if (detail.Length > 300)
        {
            detail = detail[..300];
        }

        return ex.Kind switch
        {
            OAuthFailureKind.InvalidGrant => new MailGrpcException(ErrorKind.FailedPrecondition, ErrorReasons.InvalidGrant, $"The provider refused the grant ({detail}).", metadata),
            OAuthFailureKind.Transient => new MailGrpcException(ErrorKind.Unavailable, ErrorReasons.ProviderUnavailable, $"The OAuth provider is unavailable ({detail}); retry later.", metadata),
            OAuthFailureKind.ClientRejected => new MailGrpcException(ErrorKind.FailedPrecondition, ErrorReasons.ProviderMisconfigured, $"The provider refused the OAuth client ({detail}); check its configuration.", metadata),
            OAuthFailureKind.AccessDenied => new MailGrpcException(ErrorKind.FailedPrecondition, ErrorReasons.AccessDenied, $"The person declined the authorization ({detail}).", metadata),
            OAuthFailureKind.DeviceCodeExpired => new MailGrpcException(ErrorKind.FailedPrecondition, ErrorReasons.DeviceCodeExpired, $"The device code expired before it was approved ({detail}).", metadata),
            OAuthFailureKind.PkceFailed => new MailGrpcException(ErrorKind.FailedPrecondition, ErrorReasons.PkceVerificationFailed, $"The provider refused the PKCE verifier ({detail}).", metadata),
            OAuthFailureKind.NoRefreshToken => new MailGrpcException(ErrorKind.FailedPrecondition, ErrorReasons.NoRefreshToken, $"{ex.Description} Authorize the mailbox again (with offline access granted).", new Dictionary<string, string>()),
            OAuthFailureKind.NotSupported => new MailGrpcException(ErrorKind.FailedPrecondition, ex.Error, $"Not supported by this provider or client ({detail}).", metadata),
            _ => new MailGrpcException(ErrorKind.FailedPrecondition, ErrorReasons.ProviderError, $"The OAuth provider returned an error ({detail}).", metadata),
        };
    }

    // --- Entra: the provider's own code, classified (docs/troubleshooting.md#provider-errors). ---

    /// <summary>
    /// A precise reason and the fix for an Entra error, with every id support needs in the metadata (never cut), and a
    /// RetryInfo when Entra said how long to wait. Configuration errors are FAILED_PRECONDITION, never retryable.
    /// </summary>
    private static MailGrpcException? MapEntra(OAuthProviderException ex, Providers.Msal.EntraError entra)
    {
        var metadata = new Dictionary<string, string> { ["provider_error"] = ex.Error };
        foreach (var (key, value) in entra.Metadata())
        {
            metadata[key] = value;
        }

        if (entra.Classification is not { } classified)
        {
            if (metadata.Count == 1)
            {
                return null;
            }

            // No specific fix known: the generic mapping's status and reason, with Entra's ids added.
            var generic = MapGeneric(ex);
            foreach (var (key, value) in generic.Metadata)
            {
                metadata.TryAdd(key, value);
            }

            return new MailGrpcException(generic.Kind, generic.Reason, generic.Message, metadata) { RetryDelay = entra.RetryAfter };
        }

        var code = entra.Code is { } c ? $"AADSTS{c}: " : string.Empty;
        var described = entra.Description.StartsWith("AADSTS", StringComparison.Ordinal) ? entra.Description : code + entra.Description;
        if (classified.Kind == OAuthFailureKind.Transient)
        {
            var wait = entra.RetryAfter is { } delay ? $" and asked to wait {Math.Ceiling(delay.TotalSeconds)} s" : string.Empty;
            return new MailGrpcException(ErrorKind.Unavailable, classified.Reason, $"Entra throttled the request (HTTP {entra.HttpStatus}{wait}): {described} Retry later.", metadata) { RetryDelay = entra.RetryAfter };
        }

        return new MailGrpcException(ErrorKind.FailedPrecondition, classified.Reason, $"Entra refused: {described} Fix: {classified.Fix}.", metadata);
    }
}
