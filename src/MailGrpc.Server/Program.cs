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

    var app = builder.Build();

    app.MapMailGrpc();

    await app.RunAsync();
    return Environment.ExitCode;
}
catch (Exception ex) when (!StartupLogFilter.Started && ex is not HostAbortedException)
{
    return StartupFailure.Report(ex, builder.Configuration);
}

/// <summary>The server's entry point; public so tests can host it.</summary>
public partial class Program;
