using System.Net;
using System.Net.Sockets;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Network;

/// <summary>
/// The SSRF guard for POP3 hosts: a host that is, or resolves to, a loopback, private, shared, link-local, multicast or
/// cloud-metadata address is refused unless <c>MailGrpc:Network:AllowPrivateAddresses</c> is on or the host is listed in
/// <c>MailGrpc:Network:AllowedHosts</c>. Checked when a mailbox is saved and again, on the resolved addresses, at every
/// connect (DNS can change in between).
/// </summary>
internal sealed class HostGuard(IOptions<NetworkOptions> options)
{
    /// <summary>
    /// Checks a host when a mailbox is saved. The host is normalized first (<see cref="HostNames"/>); localhost and the
    /// clouds' metadata names are refused by name. A name that does not resolve (or not within
    /// <c>MailGrpc:Network:ResolveTimeout</c>) is accepted — registration may precede the DNS record, and a slow resolver
    /// must not stall it — and is checked again, on its addresses, at every connect.
    /// </summary>
    public async Task EnsureAllowedAsync(string host, CancellationToken cancellationToken)
    {
        host = HostNames.Normalize(host) ?? host;
        if (IsExempt(host))
        {
            return;
        }

        ThrowIfForbiddenName(host);

        IPAddress[] addresses;
        if (IPAddress.TryParse(host, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Value.ResolveTimeout);
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, timeout.Token);
            }
            catch (SocketException)
            {
                return;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }

        ThrowIfAnyForbidden(host, addresses);
    }

    /// <summary>Resolves a host for a connection and returns only addresses the guard allows; throws when none is allowed.</summary>
    public async Task<IPAddress[]> ResolveForConnectAsync(string host, CancellationToken cancellationToken)
    {
        host = HostNames.Normalize(host) ?? host;
        if (!IsExempt(host))
        {
            ThrowIfForbiddenName(host);
        }

        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        if (!IsExempt(host))
        {
            ThrowIfAnyForbidden(host, addresses);
        }

        return addresses;
    }

    private bool IsExempt(string host)
    {
        var network = options.Value;
        return network.AllowPrivateAddresses || network.AllowedHosts.Any(allowed => (HostNames.Normalize(allowed) ?? allowed) == host);
    }

    private static void ThrowIfForbiddenName(string host)
    {
        if (HostNames.IsForbiddenName(host))
        {
            throw Refused(host);
        }
    }

    private static MailGrpcException Refused(string host) => Failures.HostNotAllowed(host);

    private static void ThrowIfAnyForbidden(string host, IPAddress[] addresses)
    {
        // Any forbidden address refuses the host: a name that resolves to both public and private addresses is an attack shape.
        foreach (var address in addresses)
        {
            if (IsForbidden(address))
            {
                throw Refused(host);
            }
        }
    }

    /// <summary>True for addresses a POP3 connection must not reach by default.</summary>
    public static bool IsForbidden(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
        {
            return true;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b = stackalloc byte[4];
            address.TryWriteBytes(b, out _);
            return b[0] switch
            {
                0 => true,                                  // "this" network
                10 => true,                                 // RFC 1918
                100 => b[1] >= 64 && b[1] <= 127,           // RFC 6598 shared (carrier-grade NAT)
                127 => true,                                // loopback
                169 => b[1] == 254,                         // link-local, including 169.254.169.254 metadata
                172 => b[1] >= 16 && b[1] <= 31,            // RFC 1918
                192 => (b[1] == 168) || (b[1] == 0 && b[2] == 0), // RFC 1918, IETF protocol assignments
                198 => b[1] == 18 || b[1] == 19,            // benchmarking
                >= 224 => true,                             // multicast and reserved
                _ => false,
            };
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            Span<byte> b = stackalloc byte[16];
            address.TryWriteBytes(b, out _);
            return address.IsIPv6LinkLocal
                || address.IsIPv6SiteLocal
                || address.IsIPv6Multicast
                || (b[0] & 0xFE) == 0xFC                    // unique local fc00::/7, including AWS fd00:ec2::254
                || address.IsIPv6UniqueLocal;
        }

        return true;
    }
}
