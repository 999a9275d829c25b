using MailGrpc.Server.Hosting;

if (HealthProbe.IsRequested(args))
{
    return await HealthProbe.RunAsync(args);
}

// appsettings.json sits beside the binary, wherever the process is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });

builder.AddMailGrpc();

var app = builder.Build();

app.MapMailGrpc();

await app.RunAsync();
return 0;

/// <summary>The server's entry point; public so tests can host it.</summary>
public partial class Program;
