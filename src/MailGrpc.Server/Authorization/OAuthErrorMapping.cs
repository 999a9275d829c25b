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
        SecretUnreadableException unreadable => Failures.CredentialUnreadable(unreadable.Message),
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
        var detail = string.IsNullOrEmpty(ex.Description) ? ex.Error : $"{ex.Error}: {ex.Description}";
        if (detail.Length > 300)
        {
            detail = detail[..300];
        }

        return ex.Kind switch
        {
            OAuthFailureKind.InvalidGrant => Failures.GrantRefused(detail, ex.Error),
            OAuthFailureKind.Transient => Failures.ProviderUnavailable(detail, ex.Error),
            OAuthFailureKind.ClientRejected => Failures.ProviderMisconfigured(detail, ex.Error),
            OAuthFailureKind.AccessDenied => Failures.AccessDenied(detail, ex.Error),
            OAuthFailureKind.DeviceCodeExpired => Failures.DeviceCodeExpired(detail, ex.Error),
            OAuthFailureKind.PkceFailed => Failures.PkceVerificationFailed(detail, ex.Error),
            OAuthFailureKind.NoRefreshToken => Failures.NoRefreshToken(ex.Description),
            OAuthFailureKind.NotSupported => Failures.FlowNotSupported(ex.Error, detail),
            _ => Failures.ProviderError(detail, ex.Error),
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
            return Failures.WithProviderIds(MapGeneric(ex), metadata, entra.RetryAfter);
        }

        var code = entra.Code is { } c ? $"AADSTS{c}: " : string.Empty;
        var described = entra.Description.StartsWith("AADSTS", StringComparison.Ordinal) ? entra.Description : code + entra.Description;
        return classified.Kind == OAuthFailureKind.Transient
            ? Failures.EntraThrottled(classified.Reason, entra.HttpStatus, entra.RetryAfter, described, metadata)
            : Failures.EntraRefused(classified.Reason, described, classified.Fix, metadata);
    }
}
