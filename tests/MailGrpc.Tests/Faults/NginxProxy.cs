using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace MailGrpc.Tests.Faults;

/// <summary>
/// Debian's nginx as an L7 gRPC proxy (<c>grpc_pass</c> over h2c) in front of server processes, started with
/// tests/rig/nginx.sh (which installs it when missing) and stopped with it, by the pid in its pid file.
/// </summary>
public sealed class NginxProxy : IAsyncDisposable
{
    private NginxProxy(int port, int pid)
    {
        Port = port;
        ProcessId = pid;
        Address = new Uri($"http://127.0.0.1:{port}");
    }

    public int Port { get; }

    public int ProcessId { get; }

    public Uri Address { get; }

    public static async Task<NginxProxy> StartAsync(params int[] upstreamPorts)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var output = await RunAsync(["up", port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. upstreamPorts.Select(p => $"127.0.0.1:{p}")]);
        return new NginxProxy(port, int.Parse(output.Trim().Split('\n')[^1], System.Globalization.CultureInfo.InvariantCulture));
    }

    public async ValueTask DisposeAsync() => await RunAsync(["down", Port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

    private static async Task<string> RunAsync(string[] args)
    {
        var script = Path.Combine(Infrastructure.RepoPaths.Root, "tests", "rig", "nginx.sh");
        var start = new ProcessStartInfo("bash", [script, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"tests/rig/nginx.sh {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
        }

        return await stdout;
    }
}
