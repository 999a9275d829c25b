using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Operations;

/// <summary>
/// Which server the process tests exercise: test.sh publishes the native AOT executable that ships and names it in
/// <c>MAILGRPC_TEST_SERVER</c>; without it they run the built dll on the shared runtime.
/// </summary>
public sealed class ServerBinaryTests
{
    [Fact]
    public async Task Process_tests_run_the_native_AOT_executable_when_named_else_the_dll_on_the_shared_runtime()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string?>());
        var executable = File.ResolveLinkTarget($"/proc/{server.ProcessId}/exe", returnFinalTarget: true)?.FullName
            ?? $"/proc/{server.ProcessId}/exe";
        var mapped = await File.ReadAllTextAsync($"/proc/{server.ProcessId}/maps");

        if (RepoPaths.ServerExecutable is { } named)
        {
            Assert.Equal(Path.GetFullPath(named), executable);
            // Native AOT carries its own runtime: no CoreCLR, no JIT, no IL assemblies mapped.
            Assert.DoesNotContain("libcoreclr.so", mapped, StringComparison.Ordinal);
            Assert.DoesNotContain("libclrjit.so", mapped, StringComparison.Ordinal);
            Assert.DoesNotContain("MailGrpc.Server.dll", mapped, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal("dotnet", Path.GetFileName(executable));
            Assert.Contains("MailGrpc.Server.dll", mapped, StringComparison.Ordinal);
        }
    }
}
