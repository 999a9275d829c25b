using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Pop3;

/// <summary>
/// Validates POP3 server certificates against the system roots and, when configured, one extra root CA
/// (<c>MailGrpc:Tls:ExtraTrustedCaFile</c>) through an <see cref="X509Chain"/> in <see cref="X509ChainTrustMode.CustomRootTrust"/>.
/// A name mismatch is never forgiven. (Pop3-local until the shared Network/ExtraTrust helper lands on main.)
/// </summary>
internal sealed class Pop3CertificateValidator
{
    private readonly X509Certificate2Collection? _extraRoots;

    public Pop3CertificateValidator(IOptions<MailGrpcOptions> options)
    {
        var file = options.Value.Tls.ExtraTrustedCaFile;
        if (!string.IsNullOrEmpty(file))
        {
            _extraRoots = [];
            _extraRoots.ImportFromPemFile(file);
        }
    }

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        // Only an untrusted chain can be rescued by the extra root; a missing certificate or a wrong name cannot.
        if (_extraRoots is null || certificate is null || errors != SslPolicyErrors.RemoteCertificateChainErrors)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_extraRoots);
        // Private CAs of test rigs and on-premises PKI rarely publish revocation lists.
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements.Skip(1))
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        using var leaf = new X509Certificate2(certificate);
        return custom.Build(leaf);
    }
}
