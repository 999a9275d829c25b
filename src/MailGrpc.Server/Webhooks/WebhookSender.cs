using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Errors;
using MailGrpc.Server.Events;
using Microsoft.Extensions.Options;

namespace MailGrpc.Server.Webhooks;

/// <summary>The outcome of one POST: success (2xx), else the status code (0 without a response) and the failure's name.</summary>
internal readonly record struct AttemptResult(bool Success, int StatusCode, string Error)
{
    /// <summary>The metrics' status tag: the HTTP status code, or the failure without a response.</summary>
    public string Status => StatusCode > 0 ? StatusCode.ToString(CultureInfo.InvariantCulture) : Error;
}

/// <summary>
/// One delivery attempt: the Standard Webhooks body, signed for this attempt (webhook-id = the event id, webhook-timestamp =
/// now, one v1 signature per active secret), POSTed with the named client (<see cref="HttpClientName"/>: no redirects,
/// connect through <see cref="WebhookUrlGuard"/>), bounded by <see cref="WebhookOptions.AttemptTimeout"/>. At most
/// <see cref="WebhookOptions.MaxResponseBodyBytes"/> of the response body are read, then dropped: never logged or stored.
/// </summary>
internal sealed class WebhookSender(IHttpClientFactory clients, IOptions<WebhookOptions> options, TimeProvider time, WebhookMetrics metrics)
{
    public const string HttpClientName = "mailgrpc-webhooks";
    public const string UserAgent = "MailGrpc-Webhooks/1";

    public async Task<AttemptResult> SendAsync(Uri url, StoredEvent stored, IReadOnlyList<WebhookSecret> secrets, CancellationToken cancellationToken)
    {
        byte[] body;
        try
        {
            body = WebhookPayload.Build(stored.Event);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.Text.Json.JsonException)
        {
            return new AttemptResult(false, 0, "invalid_event_data");
        }

        var headers = WebhookSigner.Sign(stored.Id, time.GetUtcNow(), body, secrets);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation(WebhookHeaderNames.Id, headers.Id);
        request.Headers.TryAddWithoutValidation(WebhookHeaderNames.Timestamp, headers.Timestamp);
        request.Headers.TryAddWithoutValidation(WebhookHeaderNames.Signature, headers.Signature);
        request.Headers.UserAgent.ParseAdd(UserAgent);

        var settings = options.Value;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.AttemptTimeout);
        var started = Stopwatch.GetTimestamp();
        AttemptResult result;
        try
        {
            using var response = await clients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            await DrainAsync(response, settings.MaxResponseBodyBytes, timeout.Token);
            var code = (int)response.StatusCode;
            result = new AttemptResult(code is >= 200 and < 300, code, string.Empty);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            result = new AttemptResult(false, 0, "timeout");
        }
        catch (HttpRequestException e) when (Find<MailGrpcException>(e) is { } refused)
        {
            result = new AttemptResult(false, 0, refused.Reason);
        }
        catch (HttpRequestException e)
        {
            result = new AttemptResult(false, 0, e.HttpRequestError switch
            {
                HttpRequestError.NameResolutionError => "name_resolution_failed",
                HttpRequestError.ConnectionError => "connect_failed",
                HttpRequestError.SecureConnectionError => "tls_failed",
                _ => "request_failed",
            });
        }
        catch (IOException)
        {
            result = new AttemptResult(false, 0, "connection_lost");
        }

        metrics.Attempt(Stopwatch.GetElapsedTime(started), result.Success);
        return result;
    }

    private static async Task DrainAsync(HttpResponseMessage response, int limit, CancellationToken cancellationToken)
    {
        if (limit <= 0) return;
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[Math.Min(limit, 4096)];
        var read = 0;
        while (read < limit)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(0, Math.Min(buffer.Length, limit - read)), cancellationToken);
            if (n == 0) break;
            read += n;
        }
    }

    private static T? Find<T>(Exception? e)
        where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T found) return found;
        }

        return null;
    }
}
