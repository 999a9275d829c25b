using System.Text;
using System.Text.Json;

namespace MailGrpc.Client.Tests;

/// <summary>The C# helper against the shared vectors the server's signer produced (clients/testdata/webhook-vectors.json).</summary>
public sealed class WebhookVerifierTests
{
    private sealed class FixedClock(long unixSeconds) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeSeconds(unixSeconds);
    }

    private static JsonElement Vectors()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "clients", "testdata", "webhook-vectors.json")))
        {
            dir = dir.Parent;
        }

        var path = Path.Combine(dir?.FullName ?? throw new InvalidOperationException("clients/testdata/webhook-vectors.json not found"), "clients", "testdata", "webhook-vectors.json");
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        return document.RootElement.GetProperty("cases").Clone();
    }

    public static TheoryData<string> VectorNames()
    {
        var data = new TheoryData<string>();
        foreach (var v in Vectors().EnumerateArray())
        {
            data.Add(v.GetProperty("name").GetString()!);
        }

        return data;
    }

    private static WebhookVerificationErrorCode Code(string error) => error switch
    {
        "INVALID_SECRET" => WebhookVerificationErrorCode.InvalidSecret,
        "MISSING_HEADER" => WebhookVerificationErrorCode.MissingHeader,
        "INVALID_TIMESTAMP" => WebhookVerificationErrorCode.InvalidTimestamp,
        "TIMESTAMP_TOO_OLD" => WebhookVerificationErrorCode.TimestampTooOld,
        "TIMESTAMP_TOO_NEW" => WebhookVerificationErrorCode.TimestampTooNew,
        "INVALID_SIGNATURE" => WebhookVerificationErrorCode.InvalidSignature,
        "INVALID_PAYLOAD" => WebhookVerificationErrorCode.InvalidPayload,
        _ => throw new InvalidOperationException("unknown code " + error),
    };

    [Fact]
    public void The_vectors_start_with_the_specification_libraries_vector_and_cover_every_code()
    {
        var vectors = Vectors().EnumerateArray().ToList();
        Assert.True(vectors.Count >= 25);
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", vectors[0].GetProperty("headers").GetProperty("webhook-signature").GetString());
        var codes = vectors.Where(v => !v.GetProperty("expect").GetProperty("valid").GetBoolean())
            .Select(v => Code(v.GetProperty("expect").GetProperty("error").GetString()!)).ToHashSet();
        Assert.Equal(Enum.GetValues<WebhookVerificationErrorCode>().Where(c => c != WebhookVerificationErrorCode.Unspecified).ToHashSet(), codes);
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Every_shared_vector_verifies_as_expected(string name)
    {
        var v = Vectors().EnumerateArray().Single(x => x.GetProperty("name").GetString() == name);
        var payload = v.GetProperty("payload").GetString()!;
        var headers = v.GetProperty("headers").EnumerateObject().Select(p => new KeyValuePair<string, string>(p.Name, p.Value.GetString()!)).ToList();
        var secret = v.GetProperty("secret").GetString()!;
        var tolerance = TimeSpan.FromSeconds(v.GetProperty("tolerance_seconds").GetInt64());
        var clock = new FixedClock(v.GetProperty("now").GetInt64());
        var expect = v.GetProperty("expect");

        if (expect.GetProperty("valid").GetBoolean())
        {
            var fromText = WebhookVerifier.Verify(payload, headers, secret, tolerance, clock);
            var fromBytes = WebhookVerifier.Verify(Encoding.UTF8.GetBytes(payload), n => headers.FirstOrDefault(h => h.Key.Equals(n, StringComparison.OrdinalIgnoreCase)).Value, secret, tolerance, clock);
            foreach (var e in new[] { fromText, fromBytes })
            {
                Assert.Equal(expect.GetProperty("id").GetString(), e.Id);
                Assert.Equal(expect.GetProperty("timestamp").GetInt64(), e.Timestamp.ToUnixTimeSeconds());
                Assert.Equal(expect.GetProperty("type").ValueKind == JsonValueKind.Null ? null : expect.GetProperty("type").GetString(), e.Type);
                Assert.Equal(JsonSerializer.Serialize(JsonDocument.Parse(payload).RootElement), JsonSerializer.Serialize(e.Payload));
            }
        }
        else
        {
            var error = Assert.Throws<WebhookVerificationException>(() => WebhookVerifier.Verify(payload, headers, secret, tolerance, clock));
            Assert.Equal(Code(expect.GetProperty("error").GetString()!), error.Code);
            Assert.Equal(expect.GetProperty("header").ValueKind == JsonValueKind.Null ? null : expect.GetProperty("header").GetString(), error.Header);
            Assert.DoesNotContain(secret.Length > 6 ? secret[6..] : "\u0000", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_default_tolerance_is_five_minutes()
    {
        var v = Vectors()[0];
        var payload = v.GetProperty("payload").GetString()!;
        var headers = v.GetProperty("headers").EnumerateObject().Select(p => new KeyValuePair<string, string>(p.Name, p.Value.GetString()!)).ToList();
        var secret = v.GetProperty("secret").GetString()!;
        var now = v.GetProperty("now").GetInt64();

        Assert.Equal("msg_p5jXN8AQM9LWM0D4loKWxJek", WebhookVerifier.Verify(payload, headers, secret, timeProvider: new FixedClock(now + 300)).Id);
        var error = Assert.Throws<WebhookVerificationException>(() => WebhookVerifier.Verify(payload, headers, secret, timeProvider: new FixedClock(now + 301)));
        Assert.Equal(WebhookVerificationErrorCode.TimestampTooOld, error.Code);
    }
}
