using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using MailGrpc.Server.Errors;
using V1 = MailGrpc.V1;

namespace MailGrpc.Server.Pop3;

/// <summary>
/// Tells a wrong <c>security</c> setting from a slow or dead server within the first bytes, instead of a TLS error that
/// blames the certificate or a 15-second timeout that SDKs retry:
/// <list type="bullet">
/// <item>implicit TLS against a plaintext port: the server's first bytes are a POP3 greeting (<c>+OK</c>) where a TLS
/// record was expected;</item>
/// <item>STARTTLS or none against an implicit-TLS port: a TLS server never speaks first, so when no greeting has come
/// after <see cref="SniffDelay"/>, a second connection offers a TLS handshake; a TLS record in answer settles it.</item>
/// </list>
/// Both become FAILED_PRECONDITION <c>POP3_SECURITY_MISMATCH</c> naming the value to use (a configuration error, never
/// retryable). The greeting wait has its own bound (<c>MailGrpc:Pop3:GreetingTimeout</c>).
/// </summary>
internal static class Pop3SecurityProbe
{
    /// <summary>How long a plaintext client waits for the greeting before it checks whether the port speaks TLS.</summary>
    public static readonly TimeSpan SniffDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>The bound of the TLS check's own connection and handshake.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>The first byte of a TLS handshake record (and of an alert), which a POP3 greeting never starts with.</summary>
    public static bool LooksLikeTls(ReadOnlySpan<byte> first) => first.Length > 0 && first[0] is 0x16 or 0x15;

    public static bool LooksLikePop3(ReadOnlySpan<byte> first) => first.StartsWith("+OK"u8) || first.StartsWith("-ERR"u8);

    /// <summary>
    /// For STARTTLS and none: reads the start of the greeting from <paramref name="network"/> and returns a stream that
    /// replays it, for MailKit to read the greeting from. Throws the mismatch when the port turns out to speak TLS.
    /// </summary>
    public static async Task<Stream> ReadGreetingAsync(
        NetworkStream network, IPEndPoint endpoint, string host, string where, Mailboxes.Pop3Security configured,
        TimeSpan greetingTimeout, RemoteCertificateValidationCallback validate, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(greetingTimeout);
        var buffer = new byte[512];
        var read = network.ReadAsync(buffer, bounded.Token).AsTask();

        var early = await Task.WhenAny(read, Task.Delay(SniffDelay, bounded.Token));
        if (early != read && !read.IsCompleted)
        {
            using var probeCancel = CancellationTokenSource.CreateLinkedTokenSource(bounded.Token);
            var probe = SpeaksTlsAsync(endpoint, host, validate, probeCancel.Token);
            if (await Task.WhenAny(read, probe) == probe && await probe)
            {
                await bounded.CancelAsync();
                await IgnoreAsync(read);
                throw Mismatch(configured, Mailboxes.Pop3Security.ImplicitTls, where, "the port speaks implicit TLS: it sent no POP3 greeting and answered a TLS handshake");
            }

            await probeCancel.CancelAsync();
            await IgnoreAsync(probe);
        }

        int count;
        try
        {
            count = await read;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new Pop3TransportException(Pop3TransportFailure.Timeout, $"POP3 server {where} sent no greeting within {greetingTimeout.TotalSeconds:0.#} s (MailGrpc:Pop3:GreetingTimeout).");
        }

        if (count == 0)
        {
            throw new Pop3TransportException(Pop3TransportFailure.ConnectionLost, $"POP3 server {where} closed the connection before its greeting.");
        }

        if (LooksLikeTls(buffer.AsSpan(0, count)))
        {
            throw Mismatch(configured, Mailboxes.Pop3Security.ImplicitTls, where, "the port answers with TLS records, not a POP3 greeting");
        }

        return new ReplayStream(network, buffer.AsMemory(0, count));
    }

    /// <summary>For implicit TLS: after a failed handshake, whether what the server sent was a plaintext POP3 greeting.</summary>
    public static MailGrpcException? PlaintextInsteadOfTls(RecordingStream recorded, string where) =>
        LooksLikePop3(recorded.FirstBytes.Span)
            ? Mismatch(Mailboxes.Pop3Security.ImplicitTls, Mailboxes.Pop3Security.Starttls, where, "the port speaks plaintext POP3 (it sent a '+OK' greeting where a TLS handshake was expected)")
            : null;

    public static MailGrpcException Mismatch(Mailboxes.Pop3Security configured, Mailboxes.Pop3Security use, string where, string what)
    {
        var useName = Name(use);
        var fix = use == Mailboxes.Pop3Security.ImplicitTls
            ? $"set the mailbox's server.security to {useName} for this port (usually 995), or use the server's STARTTLS port (usually 110) with {Name(configured)}"
            : $"set the mailbox's server.security to {useName} (or SECURITY_NONE if the server offers no STLS), or use the server's implicit-TLS port (usually 995)";
        return Failures.Pop3SecurityMismatch(where, Name(configured), useName, what, fix);
    }

    public static string Name(Mailboxes.Pop3Security security) => security switch
    {
        Mailboxes.Pop3Security.Starttls => "SECURITY_STARTTLS",
        Mailboxes.Pop3Security.None => "SECURITY_NONE",
        _ => "SECURITY_IMPLICIT_TLS",
    };

    /// <summary>A second connection that offers a TLS handshake; true when the server answered with a TLS record.</summary>
    private static async Task<bool> SpeaksTlsAsync(IPEndPoint endpoint, string host, RemoteCertificateValidationCallback validate, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, timeout.Token);
            await using var recorded = new RecordingStream(new NetworkStream(socket, ownsSocket: false));
            try
            {
                // Nothing is sent over this connection but the handshake; it is closed whatever the outcome.
                await using var tls = new SslStream(recorded, leaveInnerStreamOpen: true, validate);
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host }, timeout.Token);
            }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
            {
                // Whatever the handshake's outcome (an untrusted certificate included): only the server's first byte counts.
            }

            return LooksLikeTls(recorded.FirstBytes.Span);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task IgnoreAsync(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The outcome is already decided.
        }
    }
}

/// <summary>
/// A stream that passes everything through to <c>inner</c>; subclasses change only how reads are answered. Writes, flushes
/// and disposal always go to the wrapped stream.
/// </summary>
internal abstract class PassThroughReadStream(Stream inner) : Stream
{
    protected Stream Inner { get; } = inner;

    public override bool CanRead => Inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => Inner.CanWrite;

    public override bool CanTimeout => Inner.CanTimeout;

    public override int ReadTimeout { get => Inner.ReadTimeout; set => Inner.ReadTimeout = value; }

    public override int WriteTimeout { get => Inner.WriteTimeout; set => Inner.WriteTimeout = value; }

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => Inner.Write(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => Inner.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Flush() => Inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => Inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await Inner.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>Passes everything through and keeps the first bytes the server sent (to recognise a plaintext greeting).</summary>
internal sealed class RecordingStream(Stream inner) : PassThroughReadStream(inner)
{
    private readonly byte[] _first = new byte[16];
    private int _recorded;

    public ReadOnlyMemory<byte> FirstBytes => _first.AsMemory(0, _recorded);

    public override int Read(byte[] buffer, int offset, int count) => Record(buffer.AsSpan(offset, Inner.Read(buffer, offset, count)));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var count = await Inner.ReadAsync(buffer, cancellationToken);
        return Record(buffer.Span[..count]);
    }

    private int Record(ReadOnlySpan<byte> read)
    {
        var take = Math.Min(read.Length, _first.Length - _recorded);
        if (take > 0)
        {
            read[..take].CopyTo(_first.AsSpan(_recorded));
            _recorded += take;
        }

        return read.Length;
    }
}

/// <summary>Gives back the bytes read before MailKit took over (the start of the greeting), then reads on.</summary>
internal sealed class ReplayStream(Stream inner, ReadOnlyMemory<byte> prefix) : PassThroughReadStream(inner)
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public override int Read(byte[] buffer, int offset, int count) =>
        _prefix.IsEmpty ? Inner.Read(buffer, offset, count) : TakePrefix(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _prefix.IsEmpty ? Inner.ReadAsync(buffer, cancellationToken) : ValueTask.FromResult(TakePrefix(buffer.Span));

    private int TakePrefix(Span<byte> destination)
    {
        var take = Math.Min(destination.Length, _prefix.Length);
        _prefix.Span[..take].CopyTo(destination);
        _prefix = _prefix[take..];
        return take;
    }
}
