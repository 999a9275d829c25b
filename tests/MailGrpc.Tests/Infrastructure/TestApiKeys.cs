using System.Security.Cryptography;
using System.Text;

namespace MailGrpc.Tests.Infrastructure;

/// <summary>A tenant with a fresh API key, so parallel tests on one Redis never see each other's mailboxes.</summary>
public sealed record TestTenant(string Name, string ApiKey)
{
    public static TestTenant Create(string prefix = "t")
    {
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));
        return new TestTenant($"{prefix}-{suffix}", "key-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
    }

    public string KeyHash => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ApiKey)));
}

/// <summary>Where the repository and the built server are.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string ServerDll
    {
        get
        {
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            return Path.Combine(Root, "src", "MailGrpc.Server", "bin", configuration, "net10.0", "MailGrpc.Server.dll");
        }
    }

    /// <summary>
    /// The server executable the process tests start: <c>MAILGRPC_TEST_SERVER</c> when set (test.sh sets it to the
    /// native AOT build it publishes, which is what ships), else the built dll on the shared runtime.
    /// </summary>
    public static string? ServerExecutable => Environment.GetEnvironmentVariable("MAILGRPC_TEST_SERVER") is { Length: > 0 } path ? Path.GetFullPath(path) : null;

    /// <summary>A start description for the server with <paramref name="arguments"/>, from its own folder.</summary>
    public static System.Diagnostics.ProcessStartInfo ServerStartInfo(params string[] arguments)
    {
        var executable = ServerExecutable;
        var path = executable ?? ServerDll;
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"Build the server first: {path} is missing.");
        }

        var info = executable is null ? new System.Diagnostics.ProcessStartInfo("dotnet", [path, .. arguments]) : new System.Diagnostics.ProcessStartInfo(path, arguments);
        info.WorkingDirectory = Path.GetDirectoryName(path)!;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        return info;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MailGrpc.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("MailGrpc.sln not found above " + AppContext.BaseDirectory);
    }
}
