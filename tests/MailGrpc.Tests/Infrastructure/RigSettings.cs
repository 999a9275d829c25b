using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;

namespace MailGrpc.Tests.Infrastructure;

/// <summary>
/// The one reader of the test rig's settings for every test: the run dir (<c>MAILGRPC_RIG_DIR</c>, default
/// <c>/tmp/mailgrpc-rig</c>), the values tests/rig/up.sh wrote to <c>rig.json</c> there, and — before the rig has
/// written them — the same port variables tests/rig/lib.sh reads (<c>MAILGRPC_RIG_REDIS_PORT</c>, ...) with the same
/// defaults. Also the one writer of app-password users (through tests/rig/add-password-user.sh).
/// </summary>
public static class RigSettings
{
    public const string DefaultDirectory = "/tmp/mailgrpc-rig";

    private static readonly Lock Gate = new();
    private static IReadOnlyDictionary<string, string>? s_values;

    /// <summary>The run dir (MAILGRPC_RIG_DIR).</summary>
    public static string Directory { get; } = Environment.GetEnvironmentVariable("MAILGRPC_RIG_DIR") is { Length: > 0 } dir ? dir.TrimEnd('/') : DefaultDirectory;

    public static string JsonFile => Path.Combine(Directory, "rig.json");

    public static int RedisPort => Port("REDIS_PORT", "MAILGRPC_RIG_REDIS_PORT", 16379);

    public static int OAuthPort => Port("OAUTH_PORT", "MAILGRPC_RIG_OAUTH_PORT", 18443);

    public static int Pop3Port => Port("POP3_PORT", "MAILGRPC_RIG_POP3_PORT", 11110);

    public static int Pop3sPort => Port("POP3S_PORT", "MAILGRPC_RIG_POP3S_PORT", 11995);

    public static int Pop3sWrongNamePort => Port("POP3S_WRONGNAME_PORT", "MAILGRPC_RIG_POP3S_WRONGNAME_PORT", 11996);

    public static int OidcPort => Port("OIDC_PORT", "MAILGRPC_RIG_OIDC_PORT", 18444);

    public static int Pop3StrictPort => Port("POP3_STRICT_PORT", "MAILGRPC_RIG_POP3_STRICT_PORT", 11112);

    /// <summary>StackExchange.Redis configuration of the rig's Redis.</summary>
    public static string Redis => Value("REDIS") ?? $"127.0.0.1:{RedisPort}";

    public static string OAuthIssuer => Value("OAUTH_ISSUER") ?? $"https://127.0.0.1:{OAuthPort}";

    public static string OidcIssuer => Value("OIDC_ISSUER") ?? $"https://127.0.0.1:{OidcPort}";

    /// <summary>PEM file of the rig's CA (it signs every TLS certificate of the rig).</summary>
    public static string CaFile => Value("CA_FILE") ?? Path.Combine(Directory, "tls", "ca.crt");

    /// <summary>Every value of rig.json as a string; empty while the rig has not written it.</summary>
    public static IReadOnlyDictionary<string, string> Values
    {
        get
        {
            lock (Gate)
            {
                return s_values ??= Read();
            }
        }
    }

    /// <summary>A value of rig.json, or null when the rig has not written one.</summary>
    public static string? Value(string key) => Values.TryGetValue(key, out var value) ? value : null;

    /// <summary>A value of rig.json; fails naming the fix when it is missing.</summary>
    public static string Require(string key) => Value(key)
        ?? throw new InvalidOperationException($"{JsonFile} has no {key}: start (or restart) the rig with tests/rig/up.sh (MAILGRPC_RIG_DIR selects another run dir).");

    /// <summary>Starts the rig with tests/rig/up.sh when rig.json is missing or <paramref name="port"/> does not answer.</summary>
    public static void EnsureRunning(int port)
    {
        if (File.Exists(JsonFile) && PortAnswers(port))
        {
            return;
        }

        Run(Path.Combine(RepoPaths.Root, "tests", "rig", "up.sh"), TimeSpan.FromMinutes(5));
        lock (Gate)
        {
            s_values = null;
        }
    }

    /// <summary>
    /// Adds (or replaces) an app-password (PLAIN/LOGIN) user with tests/rig/add-password-user.sh, the rig's one writer
    /// of app passwords; the user can log in when this returns (no waiting for a new user, see the script).
    /// </summary>
    public static void AddPasswordUser(string user, string password)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(user);
        ArgumentNullException.ThrowIfNull(password);
        Run(Path.Combine(RepoPaths.Root, "tests", "rig", "add-password-user.sh"), TimeSpan.FromSeconds(60), user, password);
    }

    /// <summary>True when something accepts a TCP connection on 127.0.0.1:<paramref name="port"/>.</summary>
    public static bool PortAnswers(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int Port(string key, string variable, int fallback)
    {
        if (int.TryParse(Value(key), NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            return port;
        }

        return int.TryParse(Environment.GetEnvironmentVariable(variable), NumberStyles.None, CultureInfo.InvariantCulture, out port) ? port : fallback;
    }

    private static Dictionary<string, string> Read()
    {
        if (!File.Exists(JsonFile))
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }

        using var doc = JsonDocument.Parse(File.ReadAllBytes(JsonFile));
        return doc.RootElement.EnumerateObject().ToDictionary(
            p => p.Name,
            p => p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetRawText() : p.Value.GetString() ?? string.Empty,
            StringComparer.Ordinal);
    }

    private static void Run(string script, TimeSpan timeout, params string[] arguments)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(script);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["MAILGRPC_RIG_DIR"] = Directory;
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {script}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{script} did not finish within {timeout}: {stderr.Result}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} failed ({process.ExitCode}): {stderr.Result}{stdout.Result}");
        }
    }
}
