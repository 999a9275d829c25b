using System.Net;
using MailGrpc.Server.Configuration;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Authorization.Flows;

/// <summary>
/// The Web endpoint for people who reach it by mistake: any path it does not serve gets a page that says what the
/// endpoint is for and the callback path it serves (not an empty 404). gRPC requests never reach it: Grpc.AspNetCore
/// answers unknown methods itself.
/// </summary>
internal static class WebEndpointPages
{
    public static IEndpointRouteBuilder MapUnknownPathPage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapFallback(HandleAsync).ExcludeFromDescription();
        return endpoints;
    }

    private static Task HandleAsync(HttpContext http)
    {
        var response = http.Response;
        OAuthCallbackEndpoint.SetStrictHeaders(response);
        response.StatusCode = StatusCodes.Status404NotFound;
        var path = http.Request.Path.Value ?? "/";
        if (path.Length > 200)
        {
            path = path[..200] + "…";
        }

        return response.WriteAsync(OAuthCallbackEndpoint.Page(
            "Nothing here",
            $"<p>This is the web endpoint of a MailGrpc server. There is no page at <code>{WebUtility.HtmlEncode(path)}</code>.</p>"
            + $"<p>It serves one page for people: <code>{OAuthCallbackEndpoint.Path}</code>, where the sign-in service (Microsoft, Google or your OpenID provider) sends you back after you allow an application to read a mailbox. Open the sign-in link the application gave you; it brings you back here by itself.</p>"
            + $"<p>Operators: the redirect URI registered at the provider and in <code>MailGrpc:OAuthClients:&lt;name&gt;:RedirectUris</code> must end in <code>{OAuthCallbackEndpoint.Path}</code>.</p>"), http.RequestAborted);
    }
}

/// <summary>
/// At start: a configured RedirectUri whose host and port are this server's Web endpoint but whose path is not the
/// callback path would land people on the unknown-path page after consent. Warns, naming the path that is served.
/// </summary>
internal sealed partial class RedirectUriCheck(IOptions<OAuthClientsOptions> options, IConfiguration configuration, ILogger<RedirectUriCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(configuration["Kestrel:Endpoints:Web:Url"], UriKind.Absolute, out var web))
        {
            return Task.CompletedTask;
        }

        foreach (var (name, client) in options.Value.OAuthClients)
        {
            foreach (var redirect in client.RedirectUris)
            {
                if (Uri.TryCreate(redirect, UriKind.Absolute, out var uri) && IsThisServer(uri, web) && uri.AbsolutePath != OAuthCallbackEndpoint.Path)
                {
                    LogNotServed(logger, name, redirect, uri.AbsolutePath, OAuthCallbackEndpoint.Path);
                }
            }
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static bool IsThisServer(Uri redirect, Uri web)
    {
        if (redirect.Port != web.Port)
        {
            return false;
        }

        static bool Loopback(string host) => host is "localhost" or "127.0.0.1" or "[::1]" or "::1";
        var webHost = web.Host;
        return string.Equals(redirect.Host, webHost, StringComparison.OrdinalIgnoreCase)
            || (Loopback(redirect.Host) && (Loopback(webHost) || webHost is "0.0.0.0" or "[::]" or "*" or "+"));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "OAuth client {Client}: RedirectUri {RedirectUri} points at this server's Web endpoint, but its path {Path} is not served — people would land on a 'nothing here' page after consent. The callback is served at {ServedPath}; register and configure a redirect URI ending in it.")]
    private static partial void LogNotServed(ILogger logger, string client, string redirectUri, string path, string servedPath);
}
