using Google.Protobuf.WellKnownTypes;
using MailGrpc.Server.Authorization;
using MailGrpc.V1;
using StoredKind = MailGrpc.Server.Authorization.Secrets.CredentialKind;

namespace MailGrpc.Server.GrpcApi;

/// <summary>Converts AuthorizationService messages to the authorization core's domain types and back; no rules here.</summary>
internal static class AuthorizationProtoMapper
{
    public static CodeRedemption ToDomain(this CompleteAuthorizationRequest request) =>
        new(request.State, request.Code, request.Iss, request.CallbackUrl);

    public static PasswordSubmission ToDomain(this SetMailboxPasswordRequest request) =>
        new(request.MailboxId, request.Password, request.SkipVerification);

    public static BeginAuthorizationResponse ToProto(this AuthorizationLink link) => new()
    {
        AuthorizationUrl = link.AuthorizationUrl,
        State = link.State,
        ExpireTime = Timestamp.FromDateTimeOffset(link.ExpiresAt),
        RedirectUri = link.RedirectUri,
    };

    public static RevokeAuthorizationResponse ToProto(this AuthorizationRevocation revocation) => new()
    {
        RevokedAtProvider = revocation.RevokedAtProvider,
        Status = revocation.Status.ToProto(),
    };

    public static StartDeviceAuthorizationResponse ToProto(this DeviceAuthorizationEvent deviceEvent) => deviceEvent switch
    {
        DeviceCodeShown shown => new()
        {
            Prompt = new DeviceCodePrompt
            {
                UserCode = shown.UserCode,
                VerificationUri = shown.VerificationUri,
                VerificationUriComplete = shown.VerificationUriComplete ?? string.Empty,
                ExpireTime = Timestamp.FromDateTimeOffset(shown.ExpiresAt),
            },
        },
        DeviceAuthorizationCompleted completed => new() { Completed = completed.Status.ToProto() },
        _ => throw new ArgumentOutOfRangeException(nameof(deviceEvent), deviceEvent.GetType().Name, "Unknown device authorization event."),
    };

    public static AuthorizationStatus ToProto(this MailboxAuthorization authorization)
    {
        var status = new AuthorizationStatus
        {
            MailboxId = authorization.MailboxId,
            State = MailboxProtoMapper.ToProto(authorization.State),
            CredentialKind = authorization.CredentialKind.ToProto(),
            HasRefreshToken = authorization.HasRefreshToken,
            LastErrorReason = authorization.LastErrorReason ?? string.Empty,
            LastErrorMessage = authorization.LastErrorMessage ?? string.Empty,
            Account = authorization.Account ?? string.Empty,
        };
        if (authorization.AccessTokenExpiresAt is { } expires)
        {
            status.AccessTokenExpireTime = Timestamp.FromDateTimeOffset(expires);
        }

        if (authorization.LastRefreshAt is { } refreshed)
        {
            status.LastRefreshTime = Timestamp.FromDateTimeOffset(refreshed);
        }

        status.GrantedScopes.AddRange(authorization.GrantedScopes);
        if (authorization.AccessEndsAt is { } ends)
        {
            status.AccessEndTime = Timestamp.FromDateTimeOffset(ends);
        }

        return status;
    }

    public static CredentialKind ToProto(this StoredKind kind) => kind switch
    {
        StoredKind.Delegated => CredentialKind.Delegated,
        StoredKind.AppOnly => CredentialKind.AppOnly,
        StoredKind.Password => CredentialKind.Password,
        _ => CredentialKind.Unspecified,
    };
}
