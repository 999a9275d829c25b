using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using MailGrpc.Server.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MailGrpc.Tests.Webhooks;

/// <summary>One request the receiver got: the headers, the body, whether its signature verified, and what it answered.</summary>
public sealed record ReceivedWebhook(string Id, string Timestamp, string Signature, byte[] Body, string Type, string MailboxId, bool Verified, int Answered);

/// <summary>
/// A real HTTP receiver for webhook tests: Kestrel on 127.0.0.1 (an ephemeral port), verifying every request with the
/// server's <see cref="WebhookVerifier"/> against the secret the test sets, answering what <see cref="Respond"/> says
/// (default 204) and recording every request. Disposing it makes it refuse connections like a receiver that is down.
/// With a certificate it serves https (the certificate and its key; the URL is <c>https://127.0.0.1:port/hook</c>).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedWebhook> _received = new();

    private WebhookReceiver(WebApplication app) => _app = app;

    /// <summary>The secrets signatures are checked with (any one verifying counts).</summary>
    internal IReadOnlyList<WebhookSecret> Secrets { get; set; } = [];

    /// <summary>The status to answer a request with (called per request, in arrival order).</summary>
    public Func<ReceivedWebhook, int> Respond { get; set; } = _ => StatusCodes.Status204NoContent;

    public IReadOnlyList<ReceivedWebhook> Received => _received.ToArray();

    /// <summary>Requests answered 2xx: what the server counts as delivered.</summary>
    public IReadOnlyList<ReceivedWebhook> Accepted => _received.Where(r => r.Answered is >= 200 and < 300).ToArray();

    public Uri Url { get; private set; } = null!;

    public static async Task<WebhookReceiver> StartAsync(int port = 0, X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        // Nothing from the test directory's appsettings.json (the server's Kestrel endpoints) or the environment.
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, port, listen =>
        {
            if (certificate is not null) listen.UseHttps(certificate);
        }));
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/hook", receiver.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = new Uri(new Uri(address), "/hook");
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        var id = context.Request.Headers[WebhookHeaderNames.Id].ToString();
        var timestamp = context.Request.Headers[WebhookHeaderNames.Timestamp].ToString();
        var signature = context.Request.Headers[WebhookHeaderNames.Signature].ToString();
        var verifier = new WebhookVerifier(TimeProvider.System);
        var verified = Secrets.Any(s => verifier.Verify(body, id, timestamp, signature, s).IsValid);
        string type = string.Empty, mailbox = string.Empty;
        try
        {
            using var doc = JsonDocument.Parse(body);
            type = doc.RootElement.GetProperty("type").GetString() ?? string.Empty;
            mailbox = doc.RootElement.GetProperty("data").TryGetProperty("mailbox_id", out var m) ? m.GetString() ?? string.Empty : string.Empty;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
        }

        var request = new ReceivedWebhook(id, timestamp, signature, body, type, mailbox, verified, 0);
        var status = Respond(request);
        _received.Enqueue(request with { Answered = status });
        context.Response.StatusCode = status;
        // A body the server must read bounded and never log.
        await context.Response.WriteAsync("receiver says: " + new string('x', 10_000));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
