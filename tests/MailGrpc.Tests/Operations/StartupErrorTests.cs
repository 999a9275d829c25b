using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Operations;

/// <summary>
/// A start that cannot succeed explains itself: the real server process (the native AOT executable under test.sh) prints
/// one line naming the setting, what is wrong with its value and the fix, exits with the documented code
/// (docs/configuration.md, "Start-up errors"), and shows no stack trace. A start that succeeds labels each address.
/// </summary>
public sealed class StartupErrorTests
{
    private const int ConfigurationError = 78;
    private const int BindError = 69;
    private static readonly string ValidKey = Convert.ToBase64String(new byte[32]);

    [Fact]
    public async Task Redis_without_an_encryption_key_names_the_key_and_how_to_make_one()
    {
        var (code, output) = await RunToExitAsync(new() { ["MailGrpc:Redis:Configuration"] = "127.0.0.1:1" });

        var line = AssertOneErrorLine(output);
        Assert.Equal(ConfigurationError, code);
        Assert.Contains("MailGrpc:Encryption:Keys", line, StringComparison.Ordinal);
        Assert.Contains("openssl rand -base64 32", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_that_is_not_256_bits_names_the_key_id_and_how_to_make_one()
    {
        var (code, output) = await RunToExitAsync(new() { ["MailGrpc:Encryption:Keys:k1"] = "c2hvcnQ=" });

        var line = AssertOneErrorLine(output);
        Assert.Equal(ConfigurationError, code);
        Assert.Contains("MailGrpc:Encryption:Keys:k1", line, StringComparison.Ordinal);
        Assert.Contains("openssl rand -base64 32", line, StringComparison.Ordinal);
        Assert.DoesNotContain("c2hvcnQ=", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_active_key_id_that_is_not_configured_lists_the_ids_there_are()
    {
        var (code, output) = await RunToExitAsync(new()
        {
            ["MailGrpc:Encryption:Keys:k1"] = ValidKey,
            ["MailGrpc:Encryption:ActiveKeyId"] = "k2",
        });

        var line = AssertOneErrorLine(output);
        Assert.Equal(ConfigurationError, code);
        Assert.Contains("MailGrpc:Encryption:ActiveKeyId", line, StringComparison.Ordinal);
        Assert.Contains("k1", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_value_that_does_not_convert_names_the_key_and_the_format_without_echoing_the_value()
    {
        var (code, output) = await RunToExitAsync(new() { ["MailGrpc:Pop3:ConnectTimeout"] = "fifteen-secret-seconds" });

        var line = AssertOneErrorLine(output);
        Assert.Equal(ConfigurationError, code);
        Assert.Contains("MailGrpc:Pop3:ConnectTimeout", line, StringComparison.Ordinal);
        Assert.Contains("00:00:15", line, StringComparison.Ordinal);
        Assert.DoesNotContain("fifteen-secret-seconds", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_redis_configuration_string_that_does_not_parse_is_refused_without_echoing_it()
    {
        var (code, output) = await RunToExitAsync(new()
        {
            ["MailGrpc:Redis:Configuration"] = "127.0.0.1:1,nosuchoption=hunter2",
            ["MailGrpc:Encryption:Keys:k1"] = ValidKey,
        });

        var line = AssertOneErrorLine(output);
        Assert.Equal(ConfigurationError, code);
        Assert.Contains("MailGrpc:Redis:Configuration", line, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_port_in_use_names_the_endpoint_setting_and_exits_with_the_bind_code()
    {
        using var occupant = new TcpListener(IPAddress.Loopback, 0);
        occupant.Start();
        var port = ((IPEndPoint)occupant.LocalEndpoint).Port;

        var (code, output) = await RunToExitAsync(new() { ["Kestrel:Endpoints:Grpc:Url"] = $"http://127.0.0.1:{port}" });

        var line = AssertOneErrorLine(output);
        Assert.Equal(BindError, code);
        Assert.Contains("Kestrel:Endpoints:Grpc:Url", line, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port}", line, StringComparison.Ordinal);
        Assert.Contains("already in use", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_address_is_labelled_and_development_points_to_the_walkthrough()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string?> { ["ASPNETCORE_ENVIRONMENT"] = "Development" });
        var output = await WaitForOutputAsync(server, "Next step:");

        Assert.Contains($"gRPC API (MailboxService, AuthorizationService, MessageService, EventService, WebhookService, health, reflection): http://127.0.0.1:{server.GrpcPort}", output, StringComparison.Ordinal);
        Assert.Contains($"OAuth browser callback (the RedirectUri your OAuth clients register): http://127.0.0.1:{server.WebPort}/oauth/callback", output, StringComparison.Ordinal);
        Assert.Contains($"Prometheus metrics: http://127.0.0.1:{server.MetricsPort}/metrics", output, StringComparison.Ordinal);
        Assert.Contains("docs/getting-started.md", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Outside_development_there_is_no_next_step_line()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string?>());
        var output = await WaitForOutputAsync(server, "Prometheus metrics:");

        Assert.Contains("gRPC API", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Next step:", output, StringComparison.Ordinal);
    }

    /// <summary>Exactly one "MailGrpc cannot start:" line, and nothing that looks like an exception dump.</summary>
    private static string AssertOneErrorLine(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var errors = lines.Where(l => l.StartsWith("MailGrpc cannot start:", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, $"Expected one error line, got {errors.Count}:\n{output}");
        Assert.DoesNotContain(lines, l => l.StartsWith("at ", StringComparison.Ordinal));
        Assert.DoesNotContain("Exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", output, StringComparison.Ordinal);
        return errors[0];
    }

    private static async Task<string> WaitForOutputAsync(ServerProcess server, string text)
    {
        // The label lines are logged when the host reports started, which can follow the first SERVING answer.
        await Eventually.WaitAsync(() => server.Output.Contains(text, StringComparison.Ordinal), TimeSpan.FromSeconds(30), $"'{text}' in the server's output");

        return server.Output;
    }

    /// <summary>Starts the server with the settings (free ports otherwise) and waits for it to exit by itself.</summary>
    private static async Task<(int ExitCode, string Output)> RunToExitAsync(Dictionary<string, string?> settings)
    {
        var info = RepoPaths.ServerStartInfo();
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        info.Environment["Kestrel__Endpoints__Grpc__Url"] = $"http://127.0.0.1:{FreePort()}";
        info.Environment["Kestrel__Endpoints__Web__Url"] = $"http://127.0.0.1:{FreePort()}";
        info.Environment["Kestrel__Endpoints__Metrics__Url"] = $"http://127.0.0.1:{FreePort()}";
        foreach (var (key, value) in settings)
        {
            info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        using var process = Process.Start(info)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The server did not exit within 60 s:\n{output}");
        }

        // WaitForExit() without a timeout also waits for the redirected streams to reach their end.
        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
