using System.Net;
using MailGrpc.Server.Errors;

namespace MailGrpc.Server.Authorization.Flows;

/// <summary>
/// The redirect URI a browser lands on after consent (<c>GET /oauth/callback</c>, on the HTTP/1.1 "Web" endpoint). It
/// redeems the code like CompleteAuthorization and shows a page for the person who consented: which account was connected
/// to which mailbox and what happens next, or what went wrong and what to tell the application. The state proves which
/// tenant and mailbox it is for.
/// </summary>
internal static partial class OAuthCallbackEndpoint
{
    public const string Path = "/oauth/callback";

    public static IEndpointRouteBuilder MapOAuthCallback(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(Path, HandleAsync).ExcludeFromDescription();
        return endpoints;
    }

    /// <summary>The headers of every page of the Web endpoint: the URL may hold a code, and the pages run no script.</summary>
    public static void SetStrictHeaders(HttpResponse response)
    {
        response.Headers.CacheControl = "no-store";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers["Content-Security-Policy"] = "default-src 'none'";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.Headers["X-Frame-Options"] = "DENY";
        response.ContentType = "text/html; charset=utf-8";
    }

    private static async Task HandleAsync(HttpContext http, AuthorizationManager manager, ILogger<AuthorizationManager> logger)
    {
        var query = http.Request.Query;
        string Single(string name) => query.TryGetValue(name, out var values) && values.Count == 1 ? values[0] ?? string.Empty : string.Empty;
        string? Optional(string name) => Single(name) is { Length: > 0 } value ? value : null;
        var response = http.Response;
        SetStrictHeaders(response);
        try
        {
            var done = await manager.CompleteAsync(null, new CallbackValues(Single("state"), Single("code"), Optional("iss"), Optional("error"), Optional("error_description")), http.RequestAborted);
            var mailbox = done.Mailbox;
            var name = string.IsNullOrEmpty(mailbox.DisplayName) ? mailbox.Username : $"{mailbox.DisplayName} ({mailbox.Username})";
            var ends = done.Status.AccessEndsAt is { } end
                ? $"<p>The provider gave no lasting access: the application can read this mailbox until <b>{end.ToUniversalTime():yyyy-MM-dd HH:mm} UTC</b>; after that someone has to sign in again.</p>"
                : "<p>The application can now read this mailbox's mail, also while you are away; you do not need to sign in again.</p>";
            response.StatusCode = StatusCodes.Status200OK;
            await response.WriteAsync(Page(
                "Mailbox connected",
                $"<p>Your account <b>{Html(done.Status.Account)}</b> is now connected to the mailbox <b>{Html(name)}</b>.</p>{ends}<p>You can close this window.</p>"), http.RequestAborted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
        {
            var mapped = ExceptionMapper.Classify(ex, http.RequestAborted);
            LogFailed(logger, mapped.Reason);
            if (mapped.Reason == ErrorReasons.StateAlreadyUsed && mapped.Metadata.TryGetValue("completed", out var completed) && completed == "true")
            {
                // A reload (or a second click) of a link that already worked: the mailbox is connected; nothing failed.
                response.StatusCode = StatusCodes.Status200OK;
                var account = mapped.Metadata.GetValueOrDefault("account");
                await response.WriteAsync(Page(
                    "Already done",
                    $"<p>This sign-in was already completed{(string.IsNullOrEmpty(account) ? string.Empty : $": your account <b>{Html(account)}</b> is connected")}. There is nothing more to do; you can close this window.</p>"), http.RequestAborted);
                return;
            }

            response.StatusCode = mapped.Kind switch
            {
                ErrorKind.NotFound => StatusCodes.Status404NotFound,
                ErrorKind.PermissionDenied => StatusCodes.Status403Forbidden,
                ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
                ErrorKind.Internal => StatusCodes.Status500InternalServerError,
                _ => StatusCodes.Status400BadRequest,
            };
            var (title, forPerson) = ForPerson(mapped.Reason, mapped.Metadata);
            await response.WriteAsync(Page(
                title,
                $"<p>{forPerson}</p><p>If you need help, tell the application's support this code: <code>{Html(mapped.Reason)}</code>.</p><details><summary>Details for the application</summary><p>{Html(mapped.Message)}</p></details>"), http.RequestAborted);
        }
    }

    /// <summary>What the person who followed the link should know and do, per failure.</summary>
    private static (string Title, string Html) ForPerson(string reason, IReadOnlyDictionary<string, string> metadata) => reason switch
    {
        ErrorReasons.IdentityMismatch => ("Wrong account",
            $"You signed in as <b>{Html(metadata.GetValueOrDefault("consented_account"))}</b>, but this mailbox belongs to <b>{Html(metadata.GetValueOrDefault("expected_account"))}</b>. Nothing was connected. Ask the application for a new link and sign in as {Html(metadata.GetValueOrDefault("expected_account"))}."),
        ErrorReasons.IdentityUnavailable => ("Account not confirmed",
            "The sign-in service did not confirm which account you used, so nothing was connected. Ask the application to check its OAuth settings."),
        ErrorReasons.Pop3CredentialRefused => ("Mailbox refused the sign-in",
            $"The mail server did not accept this sign-in for <b>{Html(metadata.GetValueOrDefault("expected_account"))}</b>; perhaps you signed in with another account. Nothing was connected. Ask the application for a new link."),
        ErrorReasons.RefreshTokenNotIssued => ("Connection not kept",
            "The sign-in service gave only short-lived access, so the mailbox was not connected. Nothing is wrong with your account: the application's settings at the sign-in service need a change. Tell the application."),
        ErrorReasons.IssuerMismatch or ErrorReasons.IssuerMissing => ("Sign-in not accepted",
            "This answer did not come from the sign-in service the link was made for, so it was refused and nothing was connected. Ask the application for a new link and check the address bar when you sign in."),
        ErrorReasons.AccessDenied => ("Access not granted",
            "You (or the sign-in service) declined the access, so nothing was connected. If that was a mistake, ask the application for a new link."),
        ErrorReasons.StateExpired => ("Link expired",
            "This sign-in link is too old and nothing was connected. Ask the application for a new link and use it soon after."),
        ErrorReasons.StateAlreadyUsed => ("Link already used",
            "This sign-in link was already used and did not connect the mailbox. Ask the application for a new link."),
        ErrorReasons.StateNotFound => ("Link not recognised",
            "This server does not know this sign-in link (it may be meant for another server, or was cut). Ask the application for a new link."),
        ErrorReasons.InvalidCallback => ("Link incomplete",
            "The address this page was opened with is incomplete or altered. Go back to the application and start again from its link."),
        ErrorReasons.ProviderUnavailable => ("Try again in a moment",
            "The sign-in service did not answer. Reload this page in a minute; if it keeps failing, ask the application for a new link."),
        _ => ("Mailbox not connected",
            "The sign-in could not be completed and nothing was connected. Tell the application; the code below says what went wrong."),
    };

    private static string Html(string? value) => WebUtility.HtmlEncode(value ?? string.Empty);

    public static string Page(string title, string body) =>
        $"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{Html(title)}</title></head><body><h1>{Html(title)}</h1>{body}</body></html>";

    [LoggerMessage(Level = LogLevel.Information, Message = "OAuth callback failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
