using MailGrpc.Server.Hosting;

// appsettings.json sits beside the binary, wherever the process is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });

builder.AddMailGrpc();

var app = builder.Build();

app.MapMailGrpc();

app.Run();

/// <summary>The server's entry point; public so tests can host it.</summary>
public partial class Program;
