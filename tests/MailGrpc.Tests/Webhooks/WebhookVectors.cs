using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailGrpc.Server.Webhooks;

namespace MailGrpc.Tests.Webhooks;

/// <summary>
/// The shared webhook vectors every SDK's tests read (clients/testdata/webhook-vectors.json), built here with the
/// server's <see cref="WebhookSigner"/> from fixed inputs, so the file is exactly what the signer produces
/// (<see cref="SharedWebhookVectorsTests"/> checks it; <c>MAILGRPC_WRITE_WEBHOOK_VECTORS=1</c> rewrites it). The first case
/// is the Standard Webhooks libraries' published vector, byte for byte.
/// </summary>
internal static class WebhookVectors
{
    public const string RelativePath = "clients/testdata/webhook-vectors.json";
    public const int DefaultToleranceSeconds = 300;

    // The specification libraries' published vector (identical in its Go, JavaScript, PHP, Java and C# tests).
    public const string SpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    public const string SpecId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    public const long SpecTimestamp = 1614265330;
    public const string SpecPayload = "{\"test\": 2432232314}";
    public const string SpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    // A signature the specification libraries' tests use as "invalid" for that vector.
    public const string SpecInvalidSignature = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

    // Generated once with WebhookSecret.Generate(); fixed so the file is reproducible. Test secrets only.
    public const string OldSecret = "whsec_NowYlyOlcJ8sd+V+AE1jv2+q1j5swYXrJts/1Gm/HnI=";
    public const string NewSecret = "whsec_Wk9Tlv0DoFfarF9qO4Wbnok+axoYJRkXAPRfF49fLbA=";
    public const string UnrelatedSecret = "whsec_hIfr1AVl7/Ufurtcq1/W+9ZgOl39LVrXyyIkiPFcJ+c=";

    public const string EventId = "evt_01JEXAMPLE7Q9M2V4K8R6T3W5Y";
    public const long EventTimestamp = 1796601600; // 2026-12-07T00:00:00Z
    // A MailGrpc-style event with non-ASCII text: the signature covers the body's UTF-8 bytes.
    public const string EventPayload =
        "{\"type\":\"message.arrived\",\"timestamp\":\"2026-12-07T00:00:00Z\",\"data\":{\"mailboxId\":\"mbx_7f3a\",\"uid\":\"1733529600.42\",\"size\":2048,\"subject\":\"Grüße ✓\"}}";

    /// <summary>One vector: what the receiver got, what it verifies with, and what must come out.</summary>
    public sealed record Case(
        string Name,
        string Secret,
        string Payload,
        IReadOnlyList<KeyValuePair<string, string>> Headers,
        long Now,
        int? ToleranceSeconds,
        string? Error,
        string? ErrorHeader,
        string? EventType);

    public static WebhookSecret Secret(string serialized) =>
        WebhookSecret.TryParse(serialized, out var secret) ? secret : throw new ArgumentException("Not a whsec_ secret.", nameof(serialized));

    private static WebhookSignatureHeaders SignedHeaders(string id, long timestamp, string payload, params string[] secrets) =>
        WebhookSigner.Sign(id, DateTimeOffset.FromUnixTimeSeconds(timestamp), Encoding.UTF8.GetBytes(payload), secrets.Select(Secret).ToList());

    private static List<KeyValuePair<string, string>> Headers(string? id, string? timestamp, string? signature, string idName = WebhookHeaderNames.Id, string timestampName = WebhookHeaderNames.Timestamp, string signatureName = WebhookHeaderNames.Signature)
    {
        var headers = new List<KeyValuePair<string, string>>();
        if (id is not null) headers.Add(new(idName, id));
        if (timestamp is not null) headers.Add(new(timestampName, timestamp));
        if (signature is not null) headers.Add(new(signatureName, signature));
        return headers;
    }

    private static List<KeyValuePair<string, string>> Headers(WebhookSignatureHeaders signed) => Headers(signed.Id, signed.Timestamp, signed.Signature);

    public static IReadOnlyList<Case> Build()
    {
        var spec = SignedHeaders(SpecId, SpecTimestamp, SpecPayload, SpecSecret);
        var evt = SignedHeaders(EventId, EventTimestamp, EventPayload, OldSecret);
        var rotated = SignedHeaders(EventId, EventTimestamp, EventPayload, OldSecret, NewSecret);
        var validV1 = evt.Signature;
        const long now = EventTimestamp;
        const string arrived = "message.arrived";
        var cases = new List<Case>
        {
            new("spec library vector", SpecSecret, SpecPayload, Headers(spec), SpecTimestamp, null, null, null, null),
            new("spec vector 300 s old: the tolerance's edge still verifies", SpecSecret, SpecPayload, Headers(spec), SpecTimestamp + 300, null, null, null, null),
            new("spec vector 301 s old: too old", SpecSecret, SpecPayload, Headers(spec), SpecTimestamp + 301, null, "TIMESTAMP_TOO_OLD", null, null),
            new("spec vector 300 s ahead of the receiver's clock still verifies", SpecSecret, SpecPayload, Headers(spec), SpecTimestamp - 300, null, null, null, null),
            new("spec vector 301 s ahead of the receiver's clock: too new", SpecSecret, SpecPayload, Headers(spec), SpecTimestamp - 301, null, "TIMESTAMP_TOO_NEW", null, null),
            new("spec vector with the libraries' invalid signature", SpecSecret, SpecPayload, Headers(spec.Id, spec.Timestamp, SpecInvalidSignature), SpecTimestamp, null, "INVALID_SIGNATURE", null, null),
            new("MailGrpc event with UTF-8 text", OldSecret, EventPayload, Headers(evt), now, null, null, null, arrived),
            new("header names in any case (HTTP headers are case-insensitive)", OldSecret, EventPayload, Headers(evt.Id, evt.Timestamp, evt.Signature, "Webhook-Id", "WEBHOOK-TIMESTAMP", "Webhook-Signature"), now, null, null, null, arrived),
            new("rotation: signed with old and new secret, verified with the old", OldSecret, EventPayload, Headers(rotated), now, null, null, null, arrived),
            new("rotation: signed with old and new secret, verified with the new", NewSecret, EventPayload, Headers(rotated), now, null, null, null, arrived),
            new("rotation: neither signature is from the receiver's secret", UnrelatedSecret, EventPayload, Headers(rotated), now, null, "INVALID_SIGNATURE", null, null),
            new("unknown signature versions are skipped, a later v1 matches", OldSecret, EventPayload, Headers(evt.Id, evt.Timestamp, "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== v2," + validV1[3..] + " " + validV1), now, null, null, null, arrived),
            new("a valid MAC under another version identifier does not count", OldSecret, EventPayload, Headers(evt.Id, evt.Timestamp, "v2," + validV1[3..]), now, null, "INVALID_SIGNATURE", null, null),
            new("tampered payload", OldSecret, EventPayload.Replace("2048", "2049", StringComparison.Ordinal), Headers(evt), now, null, "INVALID_SIGNATURE", null, null),
            new("tampered webhook-id (a replayed body under another id)", OldSecret, EventPayload, Headers("evt_other", evt.Timestamp, evt.Signature), now, null, "INVALID_SIGNATURE", null, null),
            new("tampered webhook-timestamp (moved within the tolerance)", OldSecret, EventPayload, Headers(evt.Id, (EventTimestamp + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), evt.Signature), now, null, "INVALID_SIGNATURE", null, null),
            new("signature without a MAC", OldSecret, EventPayload, Headers(evt.Id, evt.Timestamp, "v1,"), now, null, "INVALID_SIGNATURE", null, null),
            new("signature that is not base64", OldSecret, EventPayload, Headers(evt.Id, evt.Timestamp, "v1,not-base64!"), now, null, "INVALID_SIGNATURE", null, null),
            new("missing webhook-id", OldSecret, EventPayload, Headers(null, evt.Timestamp, evt.Signature), now, null, "MISSING_HEADER", WebhookHeaderNames.Id, null),
            new("missing webhook-timestamp", OldSecret, EventPayload, Headers(evt.Id, null, evt.Signature), now, null, "MISSING_HEADER", WebhookHeaderNames.Timestamp, null),
            new("missing webhook-signature", OldSecret, EventPayload, Headers(evt.Id, evt.Timestamp, null), now, null, "MISSING_HEADER", WebhookHeaderNames.Signature, null),
            new("webhook-timestamp that is not a number", OldSecret, EventPayload, Headers(evt.Id, "hello", evt.Signature), now, null, "INVALID_TIMESTAMP", null, null),
            new("webhook-timestamp with a fraction", OldSecret, EventPayload, Headers(evt.Id, evt.Timestamp + ".0", evt.Signature), now, null, "INVALID_TIMESTAMP", null, null),
            new("delivery replayed 10 minutes later: too old", OldSecret, EventPayload, Headers(evt), now + 600, null, "TIMESTAMP_TOO_OLD", null, null),
            new("delivery 10 minutes old verifies with a 15 minute tolerance", OldSecret, EventPayload, Headers(evt), now + 600, 900, null, null, arrived),
            new("signed body that is not JSON", OldSecret, "not json", Headers(SignedHeaders(EventId, EventTimestamp, "not json", OldSecret)), now, null, "INVALID_PAYLOAD", null, null),
            new("empty secret", "", EventPayload, Headers(evt), now, null, "INVALID_SECRET", null, null),
            new("secret with nothing after whsec_", "whsec_", EventPayload, Headers(evt), now, null, "INVALID_SECRET", null, null),
            new("secret that is not base64", "whsec_not base64!", EventPayload, Headers(evt), now, null, "INVALID_SECRET", null, null),
        };
        return cases;
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The file's JSON: the same layout every SDK's test reads.</summary>
    public static JsonObject ToJson(IReadOnlyList<Case> cases)
    {
        var array = new JsonArray();
        foreach (var c in cases)
        {
            var headers = new JsonObject();
            foreach (var (name, value) in c.Headers) headers[name] = value;
            var expect = c.Error is null
                ? new JsonObject { ["valid"] = true, ["id"] = c.Headers.First(h => h.Key.Equals(WebhookHeaderNames.Id, StringComparison.OrdinalIgnoreCase)).Value, ["timestamp"] = long.Parse(c.Headers.First(h => h.Key.Equals(WebhookHeaderNames.Timestamp, StringComparison.OrdinalIgnoreCase)).Value, System.Globalization.CultureInfo.InvariantCulture), ["type"] = c.EventType }
                : new JsonObject { ["valid"] = false, ["error"] = c.Error, ["header"] = c.ErrorHeader };
            array.Add(new JsonObject
            {
                ["name"] = c.Name,
                ["secret"] = c.Secret,
                ["payload"] = c.Payload,
                ["headers"] = headers,
                ["now"] = c.Now,
                ["tolerance_seconds"] = c.ToleranceSeconds ?? DefaultToleranceSeconds,
                ["expect"] = expect,
            });
        }
        return new JsonObject
        {
            ["about"] = "Standard Webhooks vectors shared by MailGrpc's server signer and every SDK's verify helper. Generated by tests/MailGrpc.Tests/Webhooks/WebhookVectors.cs with the server's WebhookSigner (MAILGRPC_WRITE_WEBHOOK_VECTORS=1); the first case is the specification libraries' published vector. Verify each case's payload (UTF-8) and headers with its secret, at unix time 'now', with 'tolerance_seconds'; 'expect' is the event (id, timestamp, payload 'type') or the error code (and the missing header).",
            ["cases"] = array,
        };
    }

    public static string Serialize(JsonObject json) => json.ToJsonString(Indented) + "\n";

    public static string FilePath()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MailGrpc.sln"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("MailGrpc.sln not found above " + AppContext.BaseDirectory), RelativePath);
    }
}
