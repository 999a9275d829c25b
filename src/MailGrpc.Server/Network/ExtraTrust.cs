using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Network;

/// <summary>
/// Server-certificate validation that also trusts the root CA in <c>MailGrpc:Tls:ExtraTrustedCaFile</c> (test rigs, private
/// PKI). Used by the OAuth and webhook HTTP clients and by POP3 TLS (MailKit's <c>ServerCertificateValidationCallback</c>): a
/// certificate is accepted when the system trusts it, or when it chains to the extra CA and matches the host name.
/// </summary>
internal sealed class ExtraTrust
{
    private readonly X509Certificate2Collection _extraRoots;

    public ExtraTrust(IOptions<TlsOptions> options)
        : this(options.Value.ExtraTrustedCaFile)
    {
    }

    public ExtraTrust(string? caFile)
    {
        _extraRoots = [];
        if (!string.IsNullOrEmpty(caFile))
        {
            _extraRoots.ImportFromPemFile(caFile);
        }
    }

    /// <summary>True when an extra CA is configured.</summary>
    public bool HasExtraRoots => _extraRoots.Count > 0;

    /// <summary>
    /// The validation callback for <see cref="SslStream"/>, <c>SocketsHttpHandler.SslOptions</c> and MailKit. The host-name
    /// check is the TLS stack's (<see cref="SslPolicyErrors.RemoteCertificateNameMismatch"/>), so it is never skipped.
    /// </summary>
    public bool Validate(object? sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        // Only a chain error may be forgiven, and only by the extra roots; a name mismatch or a missing certificate never.
        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null || _extraRoots.Count == 0)
        {
            return false;
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_extraRoots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            // Intermediates the server sent.
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return custom.Build(leaf);
    }

    /// <summary>An HTTP handler for outgoing HTTPS calls (OAuth) that trusts the extra CA.</summary>
    public SocketsHttpHandler CreateHttpHandler() => new()
    {
        SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = Validate },
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        AllowAutoRedirect = false,
    };
}
