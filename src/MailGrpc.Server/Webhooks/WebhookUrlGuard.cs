using System.Net;
using System.Net.Sockets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Network;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Webhooks;

/// <summary>
/// The SSRF guard for webhook URLs, with the POP3 guard's rules (<see cref="HostNames"/>, <see cref="HostGuard.IsForbidden"/>):
/// a host that is named as or resolves to a loopback, private, shared, link-local, multicast or metadata address is refused,
/// at registration and again on the resolved addresses at every connect (<see cref="ConnectAsync"/>, the delivery
/// client's connect callback), so a DNS change after registration does not open a way in. https is required.
/// <see cref="WebhookOptions.AllowInsecureLoopback"/> (tests, local development) allows http and loopback — and only
/// loopback; <see cref="WebhookOptions.AllowedHosts"/> exempts named on-premises hosts from the address check.
/// </summary>
internal sealed class WebhookUrlGuard(IOptions<WebhookOptions> options)
{
    public const int MaxUrlLength = 2048;
    private static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(3);

    /// <summary>The parsed URL, or INVALID_WEBHOOK_URL naming what is wrong (never echoing the URL).</summary>
    public Uri ValidateSyntax(string url)
    {
        if (string.IsNullOrEmpty(url)) throw Failures.InvalidWebhookUrl("it is empty");
        if (url.Length > MaxUrlLength) throw Failures.InvalidWebhookUrl("it is too long");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.HostNameType == UriHostNameType.Unknown || string.IsNullOrEmpty(uri.Host)) throw Failures.InvalidWebhookUrl("it is not an absolute URL with a host");
        if (!string.IsNullOrEmpty(uri.UserInfo)) throw Failures.InvalidWebhookUrl("it carries user info");
        if (!string.IsNullOrEmpty(uri.Fragment) || url.Contains('#', StringComparison.Ordinal)) throw Failures.InvalidWebhookUrl("it has a fragment");
        if (uri.Scheme == Uri.UriSchemeHttps) return uri;
        if (uri.Scheme == Uri.UriSchemeHttp && options.Value.AllowInsecureLoopback && IsLoopbackHost(Host(uri))) return uri;
        throw Failures.InvalidWebhookUrl("the scheme must be https");
    }

    /// <summary>Checks a URL when an endpoint is saved; a name that does not resolve (yet) is accepted and checked at every connect.</summary>
    public async Task<Uri> EnsureAllowedAsync(string url, CancellationToken cancellationToken)
    {
        var uri = ValidateSyntax(url);
        var host = Host(uri);
        if (IsExempt(host)) return uri;
        if (HostNames.IsForbiddenName(host)) throw Failures.WebhookUrlNotAllowed(host);
        IPAddress[] addresses;
        if (IPAddress.TryParse(host, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ResolveTimeout);
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, timeout.Token);
            }
            catch (SocketException)
            {
                return uri;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return uri;
            }
        }

        ThrowIfAnyForbidden(host, addresses);
        return uri;
    }

    /// <summary>
    /// The delivery client's connect: resolves the host, refuses it if any address is forbidden (a name with both a public
    /// and a private address is an attack shape), and connects to the allowed addresses in turn.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(DnsEndPoint endPoint, CancellationToken cancellationToken)
    {
        var host = HostNames.Normalize(endPoint.Host) ?? endPoint.Host;
        var exempt = IsExempt(host);
        if (!exempt && HostNames.IsForbiddenName(host)) throw Failures.WebhookUrlNotAllowed(host);
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        if (!exempt) ThrowIfAnyForbidden(host, addresses);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last ?? new SocketException((int)SocketError.HostNotFound);
    }

    private static string Host(Uri uri) => HostNames.Normalize(uri.IdnHost.Trim('[', ']')) ?? uri.IdnHost;

    private bool IsExempt(string host)
    {
        var settings = options.Value;
        return settings.AllowedHosts.Any(allowed => (HostNames.Normalize(allowed) ?? allowed) == host)
            || (settings.AllowInsecureLoopback && IsLoopbackHost(host));
    }

    private static bool IsLoopbackHost(string host) =>
        host == "localhost" || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));

    private void ThrowIfAnyForbidden(string host, IPAddress[] addresses)
    {
        var allowLoopback = options.Value.AllowInsecureLoopback;
        foreach (var address in addresses)
        {
            if (HostGuard.IsForbidden(address) && !(allowLoopback && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address)))
            {
                throw Failures.WebhookUrlNotAllowed(host);
            }
        }
    }
}
