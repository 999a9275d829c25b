using System.Net;
using MailGrpc.Server.Errors;

namespace MailGrpc.Server.Authorization.Flows;

/// <summary>
/// The redirect URI a browser lands on after consent (<c>GET /oauth/callback</c>, on the HTTP/1.1 "Web" endpoint). It
/// redeems the code like CompleteAuthorization and shows a plain page; the state proves which tenant and mailbox it is for.
/// </summary>
internal static partial class OAuthCallbackEndpoint
{
    public const string Path = "/oauth/callback";

    public static IEndpointRouteBuilder MapOAuthCallback(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(Path, HandleAsync).ExcludeFromDescription();
        return endpoints;
    }

    private static async Task HandleAsync(HttpContext http, AuthorizationManager manager, ILogger<AuthorizationManager> logger)
    {
        var query = http.Request.Query;
        string Single(string name) => query.TryGetValue(name, out var values) && values.Count == 1 ? values[0] ?? string.Empty : string.Empty;
        var error = Single("error");
        var response = http.Response;

        // The URL held a code: keep it out of caches and referrers; the page runs no script.
        response.Headers.CacheControl = "no-store";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers["Content-Security-Policy"] = "default-src 'none'";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.ContentType = "text/html; charset=utf-8";
        try
        {
            var status = await manager.CompleteAsync(null, Single("state"), Single("code"), string.IsNullOrEmpty(error) ? null : error, NullIfEmpty(Single("error_description")), http.RequestAborted);
            response.StatusCode = StatusCodes.Status200OK;
            await response.WriteAsync(Page("Authorization complete", $"Mailbox <b>{WebUtility.HtmlEncode(status.MailboxId)}</b> is authorized. You can close this window."), http.RequestAborted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
        {
            var mapped = ExceptionMapper.Classify(ex, http.RequestAborted);
            LogFailed(logger, mapped.Reason);
            response.StatusCode = mapped.Code switch
            {
                Grpc.Core.StatusCode.NotFound => StatusCodes.Status404NotFound,
                Grpc.Core.StatusCode.PermissionDenied => StatusCodes.Status403Forbidden,
                Grpc.Core.StatusCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
                Grpc.Core.StatusCode.Internal => StatusCodes.Status500InternalServerError,
                _ => StatusCodes.Status400BadRequest,
            };
            await response.WriteAsync(Page("Authorization failed", $"{WebUtility.HtmlEncode(mapped.Message)}<br><br>Reason: <code>{WebUtility.HtmlEncode(mapped.Reason)}</code>"), http.RequestAborted);
        }
    }

    private static string? NullIfEmpty(string value) => string.IsNullOrEmpty(value) ? null : value;

    private static string Page(string title, string body) =>
        $"<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{body}</p></body></html>";

    [LoggerMessage(Level = LogLevel.Information, Message = "OAuth callback failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
