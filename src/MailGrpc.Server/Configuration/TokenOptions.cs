namespace MailGrpc.Server.Configuration;

/// <summary>How the token broker refreshes and guards tokens.</summary>
internal sealed class TokenOptions
{
    public const string SectionName = "MailGrpc:Tokens";

    /// <summary>Refresh an access token when it expires within this margin.</summary>
    public TimeSpan RefreshMargin { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a pending authorization (state + PKCE verifier) stays valid.</summary>
    public TimeSpan PendingAuthorizationLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long one call to an OAuth endpoint may take.</summary>
    public TimeSpan ProviderTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Retries of a refresh that failed transiently (timeout, connection, 5xx, 429), with exponential backoff.</summary>
    public int TransientRetries { get; set; } = 2;

    /// <summary>The first backoff between transient retries; doubles each time.</summary>
    public TimeSpan TransientBackoff { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long the cross-replica refresh lock lives if its holder dies.</summary>
    public TimeSpan RefreshLockLifetime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a caller waits for another replica's refresh before giving up with UNAVAILABLE.</summary>
    public TimeSpan RefreshWait { get; set; } = TimeSpan.FromSeconds(45);
}
