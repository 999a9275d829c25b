using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace MailGrpc.Tests.Diagnostics;

/// <summary>
/// A real implicit-TLS listener on 127.0.0.1 with a certificate from a throw-away CA, which answers the POP3 greeting
/// and CAPA with a given capability list — for breaking the TLS and CAPA steps on purpose.
/// </summary>
internal sealed class TlsTestServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly X509Certificate2 _certificate;
    private readonly string _capa;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public TlsTestServer(string certificateName, bool ipSan, string capa, string caPemFile)
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=MailGrpc Diagnostics Test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(caPemFile, ca.ExportCertificatePem());

        using var leafKey = RSA.Create(2048);
        var leafRequest = new CertificateRequest($"CN={certificateName}", leafKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(certificateName);
        if (ipSan)
        {
            san.AddIpAddress(IPAddress.Loopback);
        }

        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = leafRequest.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(8));
        _certificate = X509CertificateLoader.LoadPkcs12(leaf.CopyWithPrivateKey(leafKey).Export(X509ContentType.Pfx), null);
        _capa = capa;
        _listener.Start();
        _loop = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _certificate.Dispose();
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            await using var ssl = new SslStream(client.GetStream());
            await ssl.AuthenticateAsServerAsync(_certificate);
            await WriteAsync(ssl, "+OK test POP3 ready\r\n");
            using var reader = new StreamReader(ssl, Encoding.ASCII);
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                var command = line.Split(' ')[0].ToUpperInvariant();
                await WriteAsync(ssl, command switch
                {
                    "CAPA" => "+OK\r\n" + _capa.Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n.\r\n",
                    "QUIT" => "+OK bye\r\n",
                    _ => "-ERR unknown command\r\n",
                });
                if (command == "QUIT")
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException or ObjectDisposedException)
        {
            // The client hung up (a failed handshake is the point of some tests).
        }
    }

    private Task WriteAsync(Stream stream, string text) => stream.WriteAsync(Encoding.ASCII.GetBytes(text), _stop.Token).AsTask();
}
