using System.Runtime.CompilerServices;

namespace MailGrpc.Tests.Infrastructure;

/// <summary>
/// Hosts the tests build themselves (the fast layer's service containers) read their settings once, as the server does
/// (docs/configuration.md): without this every one of them would hold an inotify instance, and a machine's per-user limit
/// (often 128) is reached when many run at once.
/// </summary>
internal static class NoConfigurationWatchers
{
    [ModuleInitializer]
    internal static void Initialize() => Environment.SetEnvironmentVariable("DOTNET_hostBuilder__reloadConfigOnChange", "false");
}
