using System.Globalization;
using System.Text.RegularExpressions;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace MailGrpc.Server.GrpcApi.Endpoints;

/// <summary>
/// <c>MailGrpc.Server --healthcheck</c>: the container's health probe, built into the server binary so the runtime image
/// needs no extra tool. It reads the same configuration as the server, calls <c>grpc.health.v1.Health/Check</c> on the
/// <c>Grpc</c> endpoint over loopback and exits 0 when the answer is SERVING, 1 otherwise.
/// </summary>
internal static partial class HealthProbe
{
    public const string Argument = "--healthcheck";

    public static bool IsRequested(string[] args) => args.Length > 0 && args[0] == Argument;

    public static async Task<int> RunAsync(string[] args)
    {
        var configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args[1..])
            .Build();

        var address = ProbeAddress(configuration["Kestrel:Endpoints:Grpc:Url"]);
        if (address is null)
        {
            await Console.Error.WriteLineAsync("healthcheck: Kestrel:Endpoints:Grpc:Url is not set.");
            return 1;
        }

        var service = configuration["service"] ?? string.Empty;
        try
        {
            using var channel = GrpcChannel.ForAddress(address);
            var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = service }, deadline: DateTime.UtcNow.AddSeconds(4));
            await Console.Out.WriteLineAsync($"healthcheck: {address} {reply.Status}");
            return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving ? 0 : 1;
        }
        catch (Grpc.Core.RpcException e)
        {
            await Console.Error.WriteLineAsync($"healthcheck: {address} {e.StatusCode}");
            return 1;
        }
    }

    /// <summary>The loopback address to probe for a Kestrel URL that may bind a wildcard (<c>0.0.0.0</c>, <c>+</c>, <c>*</c>, <c>[::]</c>).</summary>
    internal static Uri? ProbeAddress(string? kestrelUrl)
    {
        var match = kestrelUrl is null ? null : KestrelUrl().Match(kestrelUrl);
        if (match is null || !match.Success)
        {
            return null;
        }

        var host = match.Groups["host"].Value;
        if (host is "0.0.0.0" or "+" or "*" or "[::]" or "localhost")
        {
            host = "127.0.0.1";
        }

        return new Uri(string.Create(CultureInfo.InvariantCulture, $"{match.Groups["scheme"].Value}://{host}:{match.Groups["port"].Value}"));
    }

    [GeneratedRegex(@"^(?<scheme>https?)://(?<host>\[[^\]]+\]|[^/:]+):(?<port>\d+)/?$")]
    private static partial Regex KestrelUrl();
}
