namespace MailGrpc.Server.Configuration;

/// <summary>
/// The API keys callers authenticate with: the key <c>MailGrpc:ApiKeys</c>. Bound from the <c>MailGrpc</c> section (the
/// list sits directly in it), so the keys users set are those of <see cref="MailGrpcOptions.ApiKeys"/>.
/// </summary>
internal sealed class ApiKeysOptions
{
    public const string SectionName = MailGrpcOptions.SectionName;

    public List<ApiKeyOptions> ApiKeys { get; set; } = [];
}

/// <summary>
/// The OAuth clients mailboxes name: the key <c>MailGrpc:OAuthClients</c>. Bound from the <c>MailGrpc</c> section (the
/// dictionary sits directly in it), so the keys users set are those of <see cref="MailGrpcOptions.OAuthClients"/>.
/// </summary>
internal sealed class OAuthClientsOptions
{
    public const string SectionName = MailGrpcOptions.SectionName;

    /// <summary>OAuth clients by name; mailboxes refer to them by that name.</summary>
    public Dictionary<string, OAuthClientOptions> OAuthClients { get; set; } = new(StringComparer.Ordinal);
}
