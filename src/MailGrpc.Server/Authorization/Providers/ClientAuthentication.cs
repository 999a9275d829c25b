using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using Duende.IdentityModel;
using Duende.IdentityModel.Client;
using MailGrpc.Server.Configuration;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace MailGrpc.Server.Authorization.Providers;

/// <summary>
/// How an OAuth client proves itself at the token, device, introspection and revocation endpoints (RFC 6749 §2.3,
/// OpenID Connect Core §9): <c>client_secret_basic</c>, <c>client_secret_post</c> or <c>private_key_jwt</c> with a
/// certificate. Providers that enforce the registered method refuse any other, so the choice is per client.
/// </summary>
internal static class ClientAuthentication
{
    public const string Basic = "client_secret_basic";
    public const string Post = "client_secret_post";
    public const string PrivateKeyJwt = "private_key_jwt";
    public const string None = "none";

    private static readonly ConcurrentDictionary<(string Cert, string? Key), X509Certificate2> Certificates = new();

    /// <summary>
    /// The method to use: the configured one; else <c>private_key_jwt</c> when only a certificate is configured; else
    /// <c>client_secret_basic</c> when discovery allows it (or lists nothing: basic is RFC 6749's default), else post.
    /// </summary>
    public static string MethodOf(OAuthClientOptions options, IEnumerable<string>? supported)
    {
        if (!string.IsNullOrWhiteSpace(options.TokenEndpointAuthMethod))
        {
            return options.TokenEndpointAuthMethod.Trim() switch
            {
                Basic => Basic,
                Post => Post,
                PrivateKeyJwt => PrivateKeyJwt,
                var other => throw new OAuthProviderException(OAuthFailureKind.ClientRejected, "unsupported_client_auth_method", $"TokenEndpointAuthMethod '{other}' is not one of {Basic}, {Post}, {PrivateKeyJwt}."),
            };
        }

        if (string.IsNullOrEmpty(options.ClientSecret))
        {
            return string.IsNullOrEmpty(options.ClientCertificateFile) ? None : PrivateKeyJwt;
        }

        var list = supported?.ToList() ?? [];
        return list.Count == 0 || list.Contains(Basic, StringComparer.Ordinal) || !list.Contains(Post, StringComparer.Ordinal) ? Basic : Post;
    }

    /// <summary>Puts the client's credentials on a request to <paramref name="audience"/> (the token endpoint).</summary>
    public static void Apply(ProtocolRequest request, OAuthClient client, DiscoveryDocumentResponse disco, TimeProvider time)
    {
        request.ClientId = client.Options.ClientId;
        switch (MethodOf(client.Options, disco.TokenEndpointAuthenticationMethodsSupported))
        {
            case Basic:
                request.ClientSecret = RequireSecret(client);
                request.ClientCredentialStyle = ClientCredentialStyle.AuthorizationHeader;
                break;
            case Post:
                request.ClientSecret = RequireSecret(client);
                request.ClientCredentialStyle = ClientCredentialStyle.PostBody;
                break;
            case PrivateKeyJwt:
                request.ClientSecret = null;
                request.ClientCredentialStyle = ClientCredentialStyle.PostBody;
                request.ClientAssertion = new ClientAssertion
                {
                    Type = OidcConstants.ClientAssertionTypes.JwtBearer,
                    Value = CreateAssertion(client, disco.TokenEndpoint ?? disco.Issuer ?? string.Empty, time),
                };
                break;
            default:
                // A public client: only its id.
                request.ClientSecret = null;
                request.ClientCredentialStyle = ClientCredentialStyle.PostBody;
                break;
        }
    }

    /// <summary>The client's certificate with its private key (cached per file pair; a changed file needs a restart).</summary>
    public static X509Certificate2 LoadCertificate(OAuthClientOptions options)
    {
        var file = options.ClientCertificateFile ?? throw new OAuthProviderException(OAuthFailureKind.ClientRejected, "invalid_client", "private_key_jwt needs ClientCertificateFile.");
        try
        {
            return Certificates.GetOrAdd((file, options.ClientCertificateKeyFile), k => X509Certificate2.CreateFromPemFile(k.Cert, k.Key));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new OAuthProviderException(OAuthFailureKind.ClientRejected, "invalid_client", $"ClientCertificateFile/ClientCertificateKeyFile cannot be read as a PEM certificate with its private key ({ex.GetType().Name}).");
        }
    }

    /// <summary>RFC 7523 client assertion: iss = sub = client id, aud = the token endpoint, 5 minutes, unique jti.</summary>
    private static string CreateAssertion(OAuthClient client, string audience, TimeProvider time)
    {
        var certificate = LoadCertificate(client.Options);
        var now = time.GetUtcNow().UtcDateTime;
        var signing = certificate.GetRSAPrivateKey() is not null
            ? new X509SigningCredentials(certificate, SecurityAlgorithms.RsaSha256)
            : new X509SigningCredentials(certificate, SecurityAlgorithms.EcdsaSha256);
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = client.Options.ClientId,
            Audience = audience,
            Subject = new ClaimsIdentity([new Claim(JwtClaimTypes.Subject, client.Options.ClientId), new Claim(JwtClaimTypes.JwtId, Guid.NewGuid().ToString("N"))]),
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddMinutes(5),
            SigningCredentials = signing,
        });
    }

    private static string RequireSecret(OAuthClient client) => string.IsNullOrEmpty(client.Options.ClientSecret)
        ? throw new OAuthProviderException(OAuthFailureKind.ClientRejected, "invalid_client", $"The OAuth client '{client.Name}' authenticates with a client secret but has no ClientSecret.")
        : client.Options.ClientSecret;
}
