using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Health.V1;
using Grpc.Net.Client;
using MailGrpc.V1;

namespace MailGrpc.Tests.Infrastructure;

/// <summary>
/// The built server as a separate OS process on 127.0.0.1 (free ports), configured through environment variables —
/// for what an in-process host cannot show: several replicas, a kill, a SIGTERM.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    /// <summary>The server's exit code for a listen address it cannot bind (docs/configuration.md, "Start-up errors").</summary>
    private const int BindExitCode = 69;

    private ServerProcess(Process process, int grpcPort, int webPort)
    {
        _process = process;
        GrpcPort = grpcPort;
        WebPort = webPort;
        Address = new Uri($"http://127.0.0.1:{grpcPort}");
        Channel = GrpcChannel.ForAddress(Address, new GrpcChannelOptions { MaxReceiveMessageSize = 16 * 1024 * 1024 });
    }

    public int GrpcPort { get; }

    public int WebPort { get; }

    /// <summary>The Prometheus scrape port (Kestrel endpoint "Metrics").</summary>
    public int MetricsPort { get; private init; }

    public Uri Address { get; }

    public GrpcChannel Channel { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the server wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static async Task<ServerProcess> StartAsync(IReadOnlyDictionary<string, string?> settings, TimeSpan? startTimeout = null, CancellationToken cancellationToken = default)
    {
        // A free port is only free when it is picked: with many processes starting at once, another one can bind it first.
        // The server then exits with its documented bind code, and the start is tried again on new ports.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnFreePortsAsync(settings, startTimeout, cancellationToken);
            }
            catch (PortTakenException) when (attempt < 3)
            {
            }
        }
    }

    private sealed class PortTakenException(string message) : InvalidOperationException(message);

    private static async Task<ServerProcess> StartOnFreePortsAsync(IReadOnlyDictionary<string, string?> settings, TimeSpan? startTimeout, CancellationToken cancellationToken)
    {
        var grpcPort = FreePort();
        var webPort = FreePort();
        var metricsPort = FreePort();
        var info = RepoPaths.ServerStartInfo();
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        info.Environment["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{grpcPort}";
        info.Environment["Kestrel__Endpoints__Web__Url"] = $"http://127.0.0.1:{webPort}";
        info.Environment["Kestrel__Endpoints__Metrics__Url"] = $"http://127.0.0.1:{metricsPort}";
        info.Environment["Logging__Console__FormatterName"] = "simple";
        foreach (var (key, value) in settings)
        {
            info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the server.");
        var server = new ServerProcess(process, grpcPort, webPort) { MetricsPort = metricsPort };
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitUntilServingAsync(startTimeout ?? TimeSpan.FromSeconds(60), cancellationToken);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    public CallInvoker Invoker(string? apiKey) => apiKey is null ? Channel.CreateCallInvoker() : Channel.Intercept(m => { m.Add("x-api-key", apiKey); return m; });

    public MailboxService.MailboxServiceClient Mailboxes(string? apiKey) => new(Invoker(apiKey));

    public AuthorizationService.AuthorizationServiceClient Authorization(string? apiKey) => new(Invoker(apiKey));

    public MessageService.MessageServiceClient Messages(string? apiKey) => new(Invoker(apiKey));

    /// <summary>Ends the process at once (SIGKILL), as a crash would.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    /// <summary>Sends SIGTERM, as an orchestrator would, and waits for the process to end.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await kill!.WaitForExitAsync();
            using var cts = new CancellationTokenSource(timeout);
            await _process.WaitForExitAsync(cts.Token);
        }

        return _process.ExitCode;
    }

    /// <summary>
    /// Waits until the gRPC port refuses TCP connections: after SIGTERM the process logs that it is shutting down a moment
    /// before Kestrel closes its listener, and a call that connects in between is served, not refused.
    /// </summary>
    public Task WaitUntilRefusingConnectionsAsync(TimeSpan timeout) =>
        Eventually.WaitAsync(
            async () =>
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync(IPAddress.Loopback, GrpcPort);
                    return false;
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    return true;
                }
            },
            timeout,
            $"the server's gRPC port {GrpcPort} to refuse connections");

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        Kill();
        _process.Dispose();
        await Task.CompletedTask;
    }

    private async Task WaitUntilServingAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var health = new Health.HealthClient(Channel);
        try
        {
            // Ends early when the process exits (checked below).
            await Eventually.WaitAsync(
                async () =>
                {
                    if (_process.HasExited)
                    {
                        return true;
                    }

                    try
                    {
                        var reply = await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2), cancellationToken: cancellationToken);
                        return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
                    }
                    catch (RpcException)
                    {
                        return false; // not listening yet
                    }
                },
                timeout,
                "the server to report SERVING",
                cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The server did not become SERVING within {timeout}:\n{Output}");
        }

        if (_process.HasExited)
        {
            var exited = $"The server exited with {_process.ExitCode}:\n{Output}";
            throw _process.ExitCode == BindExitCode && Output.Contains("already in use", StringComparison.Ordinal)
                ? new PortTakenException(exited)
                : new InvalidOperationException(exited);
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
