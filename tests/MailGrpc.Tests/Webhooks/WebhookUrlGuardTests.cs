using System.Net;
using Grpc.Core;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Webhooks;
using Microsoft.Extensions.Options;

namespace MailGrpc.Tests.Webhooks;

/// <summary>
/// The SSRF guard on webhook URLs: https only, no user info or fragment; loopback, private, link-local and metadata hosts
/// refused by name and by address, at registration and at connect; the loopback setting opens loopback (and http to it)
/// and nothing else. Literal addresses and refused names need no DNS.
/// </summary>
[Trait("Layer", "Fast")]
public sealed class WebhookUrlGuardTests
{
    private static WebhookUrlGuard Guard(bool loopback = false, params string[] allowed) =>
        new(Options.Create(new WebhookOptions { AllowInsecureLoopback = loopback, AllowedHosts = [.. allowed] }));

    [Theory]
    [InlineData("", "it is empty")]
    [InlineData("not a url", "not an absolute URL")]
    [InlineData("/relative/path", "not an absolute URL")]
    [InlineData("ftp://hooks.example.com/x", "scheme must be https")]
    [InlineData("http://hooks.example.com/x", "scheme must be https")]
    [InlineData("https://user:pass@hooks.example.com/x", "user info")]
    [InlineData("https://hooks.example.com/x#frag", "fragment")]
    public void Malformed_urls_are_invalid_without_echoing_the_url(string url, string why)
    {
        var e = Assert.Throws<MailGrpcException>(() => Guard().ValidateSyntax(url));
        Assert.Equal(ErrorReasons.InvalidWebhookUrl, e.Reason);
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
        if (url.Length > 0) Assert.DoesNotContain(url, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_url_over_2048_characters_is_invalid() =>
        Assert.Equal(ErrorReasons.InvalidWebhookUrl, Assert.Throws<MailGrpcException>(() => Guard().ValidateSyntax("https://hooks.example.com/" + new string('a', 2048))).Reason);

    [Theory]
    [InlineData("https://127.0.0.1/hook")]
    [InlineData("https://127.1.2.3:8443/hook")]
    [InlineData("https://[::1]/hook")]
    [InlineData("https://localhost/hook")]
    [InlineData("https://api.localhost/hook")]
    [InlineData("https://10.0.0.5/hook")]
    [InlineData("https://192.168.1.1/hook")]
    [InlineData("https://172.16.0.1/hook")]
    [InlineData("https://100.64.0.1/hook")]
    [InlineData("https://169.254.169.254/latest/meta-data")]
    [InlineData("https://metadata.google.internal/computeMetadata/v1/")]
    [InlineData("https://metadata.azure.internal/")]
    [InlineData("https://[fd00:ec2::254]/")]
    [InlineData("https://[::ffff:169.254.169.254]/")]
    [InlineData("https://0.0.0.0/")]
    public async Task Loopback_private_link_local_and_metadata_hosts_are_refused_at_registration(string url)
    {
        var e = await Assert.ThrowsAsync<MailGrpcException>(() => Guard().EnsureAllowedAsync(url, CancellationToken.None));
        Assert.Equal(ErrorReasons.WebhookUrlNotAllowed, e.Reason);
        Assert.Equal(ErrorKind.PermissionDenied, e.Kind);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/hook")]
    [InlineData("https://127.0.0.1/hook")]
    [InlineData("http://[::1]:9/hook")]
    [InlineData("http://localhost:8080/hook")]
    public async Task The_loopback_setting_allows_loopback_and_http_to_it(string url) =>
        Assert.Equal(new Uri(url), await Guard(loopback: true).EnsureAllowedAsync(url, CancellationToken.None));

    [Theory]
    [InlineData("https://10.0.0.5/hook", ErrorReasons.WebhookUrlNotAllowed)]
    [InlineData("https://169.254.169.254/", ErrorReasons.WebhookUrlNotAllowed)]
    [InlineData("https://metadata.google.internal/", ErrorReasons.WebhookUrlNotAllowed)]
    [InlineData("http://203.0.113.7/hook", ErrorReasons.InvalidWebhookUrl)]
    public async Task The_loopback_setting_allows_nothing_else(string url, string reason) =>
        Assert.Equal(reason, (await Assert.ThrowsAsync<MailGrpcException>(() => Guard(loopback: true).EnsureAllowedAsync(url, CancellationToken.None))).Reason);

    [Fact]
    public async Task A_public_address_is_allowed_and_an_allowed_host_is_exempt()
    {
        Assert.NotNull(await Guard().EnsureAllowedAsync("https://203.0.113.7/hook", CancellationToken.None));
        Assert.NotNull(await Guard(false, "10.0.0.5").EnsureAllowedAsync("https://10.0.0.5/hook", CancellationToken.None));
        Assert.Equal(ErrorReasons.InvalidWebhookUrl, Assert.Throws<MailGrpcException>(() => Guard(false, "10.0.0.5").ValidateSyntax("http://10.0.0.5/hook")).Reason);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("metadata.google.internal")]
    [InlineData("localhost")]
    public async Task The_connect_refuses_forbidden_hosts_before_opening_a_socket(string host)
    {
        var e = await Assert.ThrowsAsync<MailGrpcException>(async () => await Guard().ConnectAsync(new DnsEndPoint(host, 443), CancellationToken.None));
        Assert.Equal(ErrorReasons.WebhookUrlNotAllowed, e.Reason);
    }

    [Fact]
    public async Task With_the_loopback_setting_the_connect_reaches_a_loopback_listener()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accept = listener.AcceptSocketAsync();
        await using var stream = await Guard(loopback: true).ConnectAsync(new DnsEndPoint("127.0.0.1", port), CancellationToken.None);
        using var accepted = await accept;
        Assert.True(accepted.Connected);
        // The setting opens loopback only: a metadata address is still refused at connect.
        Assert.Equal(ErrorReasons.WebhookUrlNotAllowed, (await Assert.ThrowsAsync<MailGrpcException>(async () => await Guard(loopback: true).ConnectAsync(new DnsEndPoint("169.254.169.254", 80), CancellationToken.None))).Reason);
    }

    [Fact]
    public void The_refusal_is_permission_denied_through_the_mapper() =>
        Assert.Equal(StatusCode.PermissionDenied, ExceptionMapper.ToRpcException(Failures.WebhookUrlNotAllowed("x")).StatusCode);
}
