using MailGrpc.Server.Hosting;

var builder = WebApplication.CreateBuilder(args);

builder.AddMailGrpc();

var app = builder.Build();

app.MapMailGrpc();

app.Run();

/// <summary>The server's entry point; public so tests can host it.</summary>
public partial class Program;
