using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Google.Rpc;
using Grpc.Core;
using MailGrpc.Server.Authorization;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// A mailbox whose <c>security</c> does not match the port is told so within the first bytes, against the rig's real
/// Dovecot (11110: plaintext + STLS, 11995: implicit TLS): FAILED_PRECONDITION <c>POP3_SECURITY_MISMATCH</c> naming the
/// value to use, within the greeting bound (1 s here) and a TLS probe — not a certificate error, not a 15 s UNAVAILABLE
/// timeout that SDKs would retry.
/// </summary>
[Collection("pop3")]
public sealed class Pop3SecurityMismatchTests(Pop3Rig rig) : IAsyncDisposable
{
    // The test's GreetingTimeout (3 s) and a TLS probe, with room for a loaded machine (four collections on two cores: with
    // 1 s, a Dovecot TLS handshake that took longer made the probe time out, UNAVAILABLE instead of the mismatch), and
    // still below what it rules out: the default 10 s GreetingTimeout or the 15 s ConnectTimeout.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(9);
    private readonly MessagesHost _host = new(rig, new Dictionary<string, string?> { ["MailGrpc:Pop3:GreetingTimeout"] = "00:00:03" });

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    [Fact]
    public async Task Implicit_tls_on_the_plaintext_port_names_starttls()
    {
        var (error, elapsed) = await ListAsync(Security.ImplicitTls, rig.Pop3Port);

        AssertMismatch(error, configured: "SECURITY_IMPLICIT_TLS", use: "SECURITY_STARTTLS");
        Assert.Contains("plaintext POP3", error.Status.Detail, StringComparison.Ordinal);
        Assert.True(elapsed < Bound, $"answered after {elapsed}");
    }

    [Fact]
    public async Task Starttls_on_the_implicit_tls_port_names_implicit_tls()
    {
        var (error, elapsed) = await ListAsync(Security.Starttls, rig.Pop3sPort);

        AssertMismatch(error, configured: "SECURITY_STARTTLS", use: "SECURITY_IMPLICIT_TLS");
        Assert.True(elapsed < Bound, $"answered after {elapsed}");
    }

    [Fact]
    public async Task No_tls_on_the_implicit_tls_port_names_implicit_tls()
    {
        var (error, elapsed) = await ListAsync(Security.None, rig.Pop3sPort);

        AssertMismatch(error, configured: "SECURITY_NONE", use: "SECURITY_IMPLICIT_TLS");
        Assert.True(elapsed < Bound, $"answered after {elapsed}");
    }

    [Theory]
    [InlineData(Security.Starttls)]
    [InlineData(Security.None)]
    public async Task The_right_setting_on_the_plaintext_port_still_reads_the_greeting_and_the_mail(Security security)
    {
        var user = Pop3Rig.NewUser("sec-ok");
        var password = rig.AddPasswordUser(user);
        await rig.SeedAsync(user, [Pop3Rig.MakeMessage(0, 3_000), Pop3Rig.MakeMessage(1, 5_000)]);
        var id = await _host.CreateActiveMailboxAsync(user, security, rig.Pop3Port);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, password, null);

        var listed = await _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id });

        Assert.Equal(2, listed.Messages.Count);
    }

    [Fact]
    public async Task A_port_that_neither_greets_nor_speaks_tls_times_out_on_the_greeting_bound_as_unavailable()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var accepted = new List<Socket>();
        var accepting = Task.Run(async () =>
        {
            // Accept and say nothing: not POP3, not TLS (a TLS ClientHello gets no answer either).
            while (true)
            {
                var socket = await silent.AcceptSocketAsync();
                lock (accepted)
                {
                    accepted.Add(socket);
                }
            }
        });

        var (error, elapsed) = await ListAsync(Security.Starttls, port);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal("POP3_TIMEOUT", RpcAssert.Reason(error));
        Assert.Contains("GreetingTimeout", error.Status.Detail, StringComparison.Ordinal);
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"answered after {elapsed}");
        silent.Stop();
        lock (accepted)
        {
            accepted.ForEach(s => s.Dispose());
        }

        _ = accepting;
    }

    private static void AssertMismatch(RpcException error, string configured, string use)
    {
        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        var info = error.GetRpcStatus()!.GetDetail<ErrorInfo>()!;
        Assert.Equal("POP3_SECURITY_MISMATCH", info.Reason);
        Assert.Equal(configured, info.Metadata["configured"]);
        Assert.Equal(use, info.Metadata["use"]);
        Assert.Equal("mailbox.server.security", info.Metadata["field"]);
        Assert.Contains(use, error.Status.Detail, StringComparison.Ordinal);
    }

    private async Task<(RpcException Error, TimeSpan Elapsed)> ListAsync(Security security, int port)
    {
        var user = Pop3Rig.NewUser("sec");
        var id = await _host.CreateActiveMailboxAsync(user, security, port);
        _host.Credentials.Current[id] = new Pop3Credential(Pop3CredentialKind.Password, user, "never-sent-9f1e", null);
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<RpcException>(() => _host.Messages.ListMessagesAsync(new ListMessagesRequest { MailboxId = id }).ResponseAsync);
        return (error, clock.Elapsed);
    }
}
