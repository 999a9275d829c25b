using MailGrpc.Server.GrpcApi.Endpoints;
using MailGrpc.Server.Hosting;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(args);
}

// appsettings.json sits beside the binary, wherever the process is started from. Settings are read once at start
// (docs/configuration.md), so the configuration files are not watched: no inotify instance per process for nothing.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = ["--hostBuilder:reloadConfigOnChange=false", .. args],
    ContentRootPath = AppContext.BaseDirectory,
});

// A failed start prints one line per problem and a documented exit code (Hosting/StartupFailure), never a stack trace.
try
{
    builder.AddMailGrpc();

    await using var app = builder.Build();

    app.MapMailGrpc();

    try
    {
        await app.StartAsync();
    }
    catch (Exception) when (!StartupLogFilter.Started)
    {
        // Stop what did start before the host is disposed: a background service cancelled by the disposal alone is
        // reported by the host as failed (a "crit" TaskCanceledException beside the one-line reason).
        await StartupFailure.StopQuietlyAsync(app);
        throw;
    }

    await app.WaitForShutdownAsync();
    return Environment.ExitCode;
}
catch (Exception ex) when (!StartupLogFilter.Started && ex is not HostAbortedException)
{
    return StartupFailure.Report(ex, builder.Configuration);
}

/// <summary>The server's entry point; public so tests can host it.</summary>
public partial class Program;
