using System.Net;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Network;
using MailGrpc.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace MailGrpc.Tests.Contract;

/// <summary>
/// The SSRF guard for POP3 hosts (README security section): one spelling per host before any comparison, every spelling
/// of loopback/private/link-local/metadata refused with PERMISSION_DENIED HOST_NOT_ALLOWED, public addresses allowed.
/// Runs the server's own guard from its DI (default settings: nothing private allowed), no DNS for literals.
/// </summary>
[Trait("Layer", "Fast")]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "xunit disposes the host through IAsyncLifetime.DisposeAsync.")]
public sealed class HostGuardTests : IAsyncLifetime
{
    private MailGrpcTestHost _host = null!;

    public Task InitializeAsync()
    {
        _host = new MailGrpcTestHost(new Dictionary<string, string?>
        {
            ["MailGrpc:Redis:Configuration"] = string.Empty,
            ["MailGrpc:Encryption:Keys:k1"] = Convert.ToBase64String(new byte[32].Select((_, i) => (byte)(i + 5)).ToArray()),
            ["MailGrpc:Encryption:ActiveKeyId"] = "k1",
            ["MailGrpc:Network:AllowedHosts:0"] = "pop.internal.test",
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private HostGuard Guard => _host.Services.GetRequiredService<HostGuard>();

    [Theory]
    [InlineData("POP.Example.COM", "pop.example.com")]
    [InlineData("pop.example.com.", "pop.example.com")]
    [InlineData("LOCALHOST.", "localhost")]
    [InlineData("ｌｏｃａｌｈｏｓｔ", "localhost")] // full-width forms (UTS #46 mapping)
    [InlineData("metadata。google。internal", "metadata.google.internal")] // ideographic full stops
    [InlineData("bücher.example", "xn--bcher-kva.example")]
    public void Hosts_are_normalized_to_one_spelling(string host, string normalized)
    {
        Assert.Equal(normalized, HostNames.Normalize(host));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" pop.example.com")]
    [InlineData("pop.example.com ")]
    [InlineData(".")]
    public void Malformed_hosts_have_no_normal_form(string host)
    {
        Assert.Null(HostNames.Normalize(host));
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("mail.localhost")]
    [InlineData("metadata.google.internal")]
    [InlineData("instance-data.ec2.internal")]
    [InlineData("metadata.azure.internal")]
    public void Local_and_metadata_names_are_refused_by_name(string host)
    {
        Assert.True(HostNames.IsForbiddenName(host));
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.255.254")]
    [InlineData("0.0.0.0")]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("100.64.0.1")]
    [InlineData("100.127.255.255")]
    [InlineData("169.254.169.254")]
    [InlineData("192.0.0.8")]
    [InlineData("198.18.0.1")]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("fe80::1")]
    [InlineData("fc00::1")]
    [InlineData("fd00:ec2::254")]
    [InlineData("ff02::1")]
    public void Internal_addresses_are_forbidden(string address)
    {
        Assert.True(HostGuard.IsForbidden(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.1")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.1")]
    [InlineData("192.169.0.1")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    public void Public_addresses_are_allowed(string address)
    {
        Assert.False(HostGuard.IsForbidden(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("2130706433")] // 127.0.0.1 as one decimal number
    [InlineData("0x7f.0.0.1")] // hexadecimal first part
    [InlineData("127.1")] // short form
    [InlineData("::ffff:7f00:1")]
    [InlineData("LocalHost.")]
    [InlineData("ｌｏｃａｌｈｏｓｔ")]
    [InlineData("169.254.169.254")]
    [InlineData("metadata.google.internal.")]
    public async Task Every_spelling_of_an_internal_host_is_refused_when_a_mailbox_is_saved(string host)
    {
        var error = await Assert.ThrowsAsync<MailGrpcException>(() => Guard.EnsureAllowedAsync(host, CancellationToken.None));
        Assert.Equal(ErrorKind.PermissionDenied, error.Kind);
        Assert.Equal("HOST_NOT_ALLOWED", error.Reason);
        Assert.Contains("MailGrpc:Network:AllowedHosts", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("pop.internal.test")] // listed in AllowedHosts: exempt, even without DNS
    [InlineData("POP.Internal.Test.")] // ... in any spelling
    public async Task Public_and_listed_hosts_are_accepted(string host)
    {
        await Guard.EnsureAllowedAsync(host, CancellationToken.None);
    }
}
