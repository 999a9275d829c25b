using System.Net;
using System.Net.Sockets;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a real server that cuts every connection once the server has sent more than
/// <c>cutAfterBytes</c> bytes to the client (or never, with null) — a server that drops the connection mid-stream.
/// </summary>
public sealed class CuttingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;

    public CuttingProxy(int targetPort, long? cutAfterBytes)
    {
        _target = new IPEndPoint(IPAddress.Loopback, targetPort);
        CutAfterBytes = cutAfterBytes;
        _listener.Start();
        _accept = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Changed between connections to cut (or stop cutting) later ones.</summary>
    public long? CutAfterBytes { get; set; }

    public int Connections { get; private set; }

    public int Cuts { get; private set; }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            Connections++;
            _ = RelayAsync(client, CutAfterBytes);
        }
    }

    private async Task RelayAsync(TcpClient client, long? cutAfter)
    {
        using var _ = client;
        using var server = new TcpClient();
        try
        {
            await server.ConnectAsync(_target, _stop.Token);
            var up = CopyAsync(client.GetStream(), server.GetStream(), null);
            var down = CopyAsync(server.GetStream(), client.GetStream(), cutAfter);
            await Task.WhenAny(up, down);
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
        catch (IOException)
        {
        }
        catch (SocketException)
        {
        }

        // Closing both sockets without a POP3 QUIT is exactly a dropped connection.
        client.Client.Close(0);
        server.Client.Close(0);
    }

    private async Task CopyAsync(Stream from, Stream to, long? limit)
    {
        var buffer = new byte[16 * 1024];
        long total = 0;
        try
        {
            while (true)
            {
                var max = limit is { } l ? (int)Math.Min(buffer.Length, l - total) : buffer.Length;
                if (max <= 0)
                {
                    Cuts++;
                    return;
                }

                var read = await from.ReadAsync(buffer.AsMemory(0, max), _stop.Token);
                if (read == 0)
                {
                    return;
                }

                await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
                total += read;
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accept;
        _stop.Dispose();
    }
}
