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
        var metadata = new Dictionary<string, string> { ["provider_error"] = ex.Error };
        var detail = string.IsNullOrEmpty(ex.Description) ? ex.Error : $"{ex.Error}: {ex.Description}";
        if (detail.Length > 300)
        {
            detail = detail[..300];
        }

        return ex.Kind switch
        {
            OAuthFailureKind.InvalidGrant => new MailGrpcException(StatusCode.FailedPrecondition, ErrorReasons.InvalidGrant, $"The provider refused the grant ({detail}).", metadata),
            OAuthFailureKind.Transient => new MailGrpcException(StatusCode.Unavailable, ErrorReasons.ProviderUnavailable, $"The OAuth provider is unavailable ({detail}); retry later.", metadata),
            OAuthFailureKind.ClientRejected => new MailGrpcException(StatusCode.FailedPrecondition, ErrorReasons.ProviderMisconfigured, $"The provider refused the OAuth client ({detail}); check its configuration.", metadata),
            OAuthFailureKind.AccessDenied => new MailGrpcException(StatusCode.FailedPrecondition, ErrorReasons.AccessDenied, $"The person declined the authorization ({detail}).", metadata),
            OAuthFailureKind.DeviceCodeExpired => new MailGrpcException(StatusCode.FailedPrecondition, ErrorReasons.DeviceCodeExpired, $"The device code expired before it was approved ({detail}).", metadata),
            OAuthFailureKind.PkceFailed => new MailGrpcException(StatusCode.FailedPrecondition, ErrorReasons.PkceVerificationFailed, $"The provider refused the PKCE verifier ({detail}).", metadata),
            OAuthFailureKind.NoRefreshToken => new MailGrpcException(StatusCode.FailedPrecondition, ErrorReasons.NoRefreshToken, $"{ex.Description} Authorize the mailbox again (with offline access granted).", new Dictionary<string, string>()),
            OAuthFailureKind.NotSupported => new MailGrpcException(StatusCode.FailedPrecondition, ex.Error, $"Not supported by this provider or client ({detail}).", metadata),
            _ => new MailGrpcException(StatusCode.FailedPrecondition, ErrorReasons.ProviderError, $"The OAuth provider returned an error ({detail}).", metadata),
        };
    }
}
