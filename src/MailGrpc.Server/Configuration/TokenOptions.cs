namespace MailGrpc.Server.Configuration;

/// <summary>How the token broker refreshes and guards tokens.</summary>
internal sealed class TokenOptions
{
    /// <summary>Refresh an access token when it expires within this margin.</summary>
    public TimeSpan RefreshMargin { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a pending authorization (state + PKCE verifier) stays valid.</summary>
    public TimeSpan PendingAuthorizationLifetime { get; set; } = TimeSpan.FromMinutes(10);
}
