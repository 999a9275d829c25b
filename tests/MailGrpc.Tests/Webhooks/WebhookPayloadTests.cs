using System.Text;
using System.Text.Json;
using MailGrpc.Server.Events;
using MailGrpc.Server.Webhooks;
using Microsoft.Extensions.Time.Testing;

namespace MailGrpc.Tests.Webhooks;

/// <summary>The delivery body per the Standard Webhooks payload structure, signed so the verifier accepts it.</summary>
[Trait("Layer", "Fast")]
public sealed class WebhookPayloadTests
{
    [Fact]
    public void The_body_is_type_timestamp_and_the_event_data_as_is_and_its_signature_verifies()
    {
        var data = """{"mailbox_id":"m-1","uid":"17","size":1234,"envelope":{"from":"a@example.com","to":"b@example.com","subject":"Hi","date":"Mon, 7 Dec 2026 03:00:00 +0000","message_id":"x@y"}}""";
        var occurred = new DateTimeOffset(2026, 12, 7, 3, 0, 1, 250, TimeSpan.Zero);
        var body = WebhookPayload.Build(new MailEvent("message.arrived", "m-1", occurred, data));

        using var doc = JsonDocument.Parse(body);
        Assert.Equal("message.arrived", doc.RootElement.GetProperty("type").GetString());
        Assert.Equal("2026-12-07T03:00:01.250Z", doc.RootElement.GetProperty("timestamp").GetString());
        Assert.Equal(data, doc.RootElement.GetProperty("data").GetRawText());

        var secret = WebhookSecret.Generate();
        var now = new FakeTimeProvider(occurred);
        var headers = WebhookSigner.Sign("1796612401250-0", now.GetUtcNow(), body, [secret]);
        Assert.True(new WebhookVerifier(now).Verify(body, headers.Id, headers.Timestamp, headers.Signature, secret).IsValid);
        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).Replace("Hi", "Ho", StringComparison.Ordinal));
        Assert.False(new WebhookVerifier(now).Verify(tampered, headers.Id, headers.Timestamp, headers.Signature, secret).IsValid);
    }

    [Fact]
    public void Empty_data_is_an_empty_object_and_malformed_data_is_refused()
    {
        using var doc = JsonDocument.Parse(WebhookPayload.Build(new MailEvent("mailbox.sync_recovered", "m-1", DateTimeOffset.UnixEpoch, "")));
        Assert.Equal(JsonValueKind.Object, doc.RootElement.GetProperty("data").ValueKind);
        Assert.ThrowsAny<Exception>(() => WebhookPayload.Build(new MailEvent("message.arrived", "m-1", DateTimeOffset.UnixEpoch, "{not json")));
    }
}
