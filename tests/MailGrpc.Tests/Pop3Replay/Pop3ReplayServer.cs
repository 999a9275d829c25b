using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MailGrpc.Tests.Pop3Replay;

/// <summary>
/// A strict POP3 replayer on an in-process loopback listener, in the spirit of MailKit's own <c>Pop3ReplayStream</c>
/// tests: each accepted connection plays the next transcript — it sends the server lines and requires the client's
/// next line to be exactly the scripted one. Any other command, a command after the script, a missing command or an
/// extra connection is recorded as a failure (and the connection is closed), and <see cref="VerifyAsync"/> fails the test
/// with it. Real sockets, so both MailKit's <c>Pop3Client</c> and the server's own session factory (DNS, SSRF guard,
/// TCP) run unchanged against it.
/// </summary>
public sealed class Pop3ReplayServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Queue<Pop3Transcript> _scripts;
    private readonly List<string> _failures = [];
    private readonly List<Task> _connections = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _completed;
    private int _accepted;

    public Pop3ReplayServer(params Pop3Transcript[] scripts)
    {
        _scripts = new Queue<Pop3Transcript>(scripts);
        Expected = scripts.Length;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>How many connections the scripts expect.</summary>
    public int Expected { get; }

    /// <summary>Connections made so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Every client line received, per connection, in order (what the client sent: never logged by the server).</summary>
    public List<List<string>> Received { get; } = [];

    /// <summary>
    /// Fails unless every transcript was played to its end and nothing unscripted happened. Waits (bounded) for the
    /// connections still running to reach their end.
    /// </summary>
    public async Task VerifyAsync()
    {
        Task[] running;
        lock (_connections)
        {
            running = [.. _connections];
        }

        try
        {
            await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            // A client still holds its connection open: judge what happened so far.
        }
        lock (_failures)
        {
            Assert.True(_failures.Count == 0, "POP3 replay: " + string.Join("; ", _failures));
        }

        Assert.True(Volatile.Read(ref _completed) == Expected, $"POP3 replay: {Volatile.Read(ref _completed)} of {Expected} transcripts were played to their end ({Accepted} connections)");
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            Pop3Transcript? script;
            List<string> received = [];
            lock (_connections)
            {
                script = _scripts.Count > 0 ? _scripts.Dequeue() : null;
                Received.Add(received);
            }

            if (script is null)
            {
                Fail("a connection the transcripts do not expect");
                socket.Dispose();
                continue;
            }

            lock (_connections)
            {
                _connections.Add(PlayAsync(socket, script, received));
            }
        }
    }

    private async Task PlayAsync(Socket socket, Pop3Transcript script, List<string> received)
    {
        using var _ = socket;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.Latin1, detectEncodingFromByteOrderMarks: false);
        try
        {
            var pending = new StringBuilder();
            foreach (var line in script.Lines)
            {
                if (line.FromServer)
                {
                    pending.Append(line.Text).Append("\r\n");
                    continue;
                }

                await FlushAsync(stream, pending);
                var sent = await reader.ReadLineAsync(_stop.Token);
                if (sent is null)
                {
                    Fail($"{script.Name}: the client closed the connection; the transcript expects 'C: {line.Text}'");
                    return;
                }

                received.Add(sent);
                if (sent != line.Text)
                {
                    Fail($"{script.Name}: the client sent '{sent}'; the transcript expects 'C: {line.Text}'");
                    return;
                }
            }

            await FlushAsync(stream, pending);
            Interlocked.Increment(ref _completed);

            // After the script: the client may only close the connection.
            var extra = await reader.ReadLineAsync(_stop.Token);
            if (extra is not null)
            {
                received.Add(extra);
                Fail($"{script.Name}: the client sent '{extra}' after the end of the transcript");
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The test ended or the client reset the connection: what was expected by then is checked by VerifyAsync.
        }
    }

    private static async Task FlushAsync(NetworkStream stream, StringBuilder pending)
    {
        if (pending.Length == 0)
        {
            return;
        }

        await stream.WriteAsync(Encoding.Latin1.GetBytes(pending.ToString()));
        pending.Clear();
    }

    private void Fail(string failure)
    {
        lock (_failures)
        {
            _failures.Add(failure);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }
}
