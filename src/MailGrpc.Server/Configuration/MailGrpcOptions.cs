using System.ComponentModel.DataAnnotations;

namespace MailGrpc.Server.Configuration;

/// <summary>
/// The whole <c>MailGrpc</c> configuration section, as one tree: docs/configuration.md lists every key and a test binds
/// that document against these classes, so the reference cannot drift from the code. It is not injected: each concern
/// owns a sub-section and takes only that options type (registered and validated one by one in
/// <see cref="Hosting.OptionsServiceCollectionExtensions"/>; everything is read at start, see docs/configuration.md).
/// </summary>
internal sealed class MailGrpcOptions
{
    public const string SectionName = "MailGrpc";

    public RedisOptions Redis { get; set; } = new();

    /// <summary>OAuth clients by name; mailboxes refer to them by that name.</summary>
    public Dictionary<string, OAuthClientOptions> OAuthClients { get; set; } = new(StringComparer.Ordinal);

    public EncryptionOptions Encryption { get; set; } = new();

    public List<ApiKeyOptions> ApiKeys { get; set; } = [];

    public NetworkOptions Network { get; set; } = new();

    public TlsOptions Tls { get; set; } = new();

    public TokenOptions Tokens { get; set; } = new();

    public Pop3Options Pop3 { get; set; } = new();

    public ShutdownOptions Shutdown { get; set; } = new();

    public TelemetryOptions Telemetry { get; set; } = new();

    public DiagnosticsOptions Diagnostics { get; set; } = new();

    public SyncOptions Sync { get; set; } = new();

    public EventOptions Events { get; set; } = new();

    public WebhookOptions Webhooks { get; set; } = new();
}

internal sealed class RedisOptions
{
    public const string SectionName = "MailGrpc:Redis";

    /// <summary>A StackExchange.Redis configuration string; empty runs the embedded development store.</summary>
    public string? Configuration { get; set; }

    /// <summary>
    /// After a credential write (a rotated refresh token, a password, the MSAL cache) or a mailbox document write, wait until
    /// this many replicas of the key's master have it (Redis <c>WAIT</c>), so a failover cannot bring back a token the
    /// provider already revoked or undo an acknowledged create. Capped at the replicas connected (syncing ones included):
    /// a single Redis without replicas does not wait. 0 turns it off.
    /// </summary>
    public int DurableWriteReplicas { get; set; } = 1;

    /// <summary>How long a durable write waits for its replicas; after that the call fails with UNAVAILABLE (NOREPLICAS).</summary>
    public TimeSpan DurableWriteTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the reconciler looks for state a crash left half-done (mailboxes missing from the index, …).</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The most keys one reconciler pass examines (bounds its Redis work); the next pass continues where it stopped.</summary>
    public int ReconcileBatchSize { get; set; } = 1000;
}

internal sealed class ApiKeyOptions
{
    /// <summary>The tenant whose mailboxes this key reads and writes.</summary>
    public string Tenant { get; set; } = string.Empty;

    /// <summary>Lower- or upper-case hex SHA-256 of the key; the key itself is never configured.</summary>
    public string KeyHash { get; set; } = string.Empty;
}

internal sealed class NetworkOptions
{
    public const string SectionName = "MailGrpc:Network";

    /// <summary>Allows POP3 hosts on loopback, private, link-local and metadata addresses (test rigs, on-premises servers).</summary>
    public bool AllowPrivateAddresses { get; set; }

    /// <summary>Host names or IP addresses exempt from the private-address refusal.</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>How long registration waits for DNS when checking a host name; on time-out the check moves to connect time.</summary>
    [PositiveTimeSpan("MailGrpc:Network:ResolveTimeout must be positive.")]
    public TimeSpan ResolveTimeout { get; set; } = TimeSpan.FromSeconds(1);
}

internal sealed class TlsOptions
{
    public const string SectionName = "MailGrpc:Tls";

    /// <summary>A PEM file with an extra root CA trusted for POP3 TLS and the OAuth HTTP client.</summary>
    public string? ExtraTrustedCaFile { get; set; }
}

/// <summary>One OAuth client a mailbox can name in its <c>auth_method</c>.</summary>
internal sealed class OAuthClientOptions
{
    [Required]
    public OAuthProviderKind Provider { get; set; }

    public string ClientId { get; set; } = string.Empty;

    public string? ClientSecret { get; set; }

    /// <summary>Microsoft only: the Entra tenant (a GUID, a domain, <c>organizations</c> or <c>common</c>).</summary>
    public string? TenantId { get; set; }

    /// <summary>Generic only: the issuer URL; endpoints come from its discovery document.</summary>
    public string? Authority { get; set; }

    /// <summary>Scopes to request; the provider's POP3 scope is the default.</summary>
    public List<string> Scopes { get; set; } = [];

    /// <summary>The redirect URIs registered with the provider; BeginAuthorization accepts only these.</summary>
    public List<string> RedirectUris { get; set; } = [];

    /// <summary>
    /// How the client authenticates at the token, device and revocation endpoints: <c>client_secret_basic</c>,
    /// <c>client_secret_post</c> or <c>private_key_jwt</c> (with <see cref="ClientCertificateFile"/>). Empty: basic when the
    /// provider's discovery allows it (or lists nothing), else post; <c>private_key_jwt</c> when only a certificate is set.
    /// </summary>
    public string? TokenEndpointAuthMethod { get; set; }

    /// <summary>private_key_jwt: a PEM file with the client's certificate and its private key (or the key in <see cref="ClientCertificateKeyFile"/>).</summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>private_key_jwt: a PEM file with the certificate's private key, when it is not in <see cref="ClientCertificateFile"/>.</summary>
    public string? ClientCertificateKeyFile { get; set; }

    /// <summary>
    /// Send <c>prompt=consent</c> so an OpenID provider issues a refresh token (OpenID Connect Core §11). Empty: on whenever
    /// <c>offline_access</c> is requested from a Generic provider (Google always gets it with <c>access_type=offline</c>).
    /// </summary>
    public bool? PromptConsent { get; set; }

    /// <summary>
    /// Accept a delegated authorization that yields no refresh token. Off: such a completion is refused
    /// (<c>REFRESH_TOKEN_NOT_ISSUED</c>) and nothing is stored; on: the mailbox works until the access token expires.
    /// </summary>
    public bool AllowAccessTokenOnly { get; set; }

    /// <summary>
    /// The identity claim compared with the mailbox's username at every delegated completion. Empty: Microsoft
    /// <c>preferred_username</c> (then <c>upn</c>), Google <c>email</c> (with <c>email_verified</c>), Generic <c>email</c>.
    /// </summary>
    public string? IdentityClaim { get; set; }
}

/// <summary>The kinds of OAuth provider MailGrpc speaks to.</summary>
internal enum OAuthProviderKind
{
    None = 0,
    Microsoft,
    Google,
    Generic,
}
