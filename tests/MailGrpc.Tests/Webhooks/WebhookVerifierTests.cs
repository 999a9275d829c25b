using System.Text;
using MailGrpc.Server.Webhooks;
using Microsoft.Extensions.Time.Testing;

namespace MailGrpc.Tests.Webhooks;

[Trait("Layer", "Fast")]
public sealed class WebhookVerifierTests
{
    public static TheoryData<string> VectorNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in WebhookVectors.Build()) data.Add(c.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Every_shared_vector_verifies_as_expected(string name)
    {
        var c = WebhookVectors.Build().Single(v => v.Name == name);
        if (c.Error == "INVALID_SECRET")
        {
            Assert.False(WebhookSecret.TryParse(c.Secret, out _));
            return;
        }
        var verifier = new WebhookVerifier(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(c.Now)));
        string? Header(string header) => c.Headers.FirstOrDefault(h => h.Key.Equals(header, StringComparison.OrdinalIgnoreCase)).Value;

        var result = verifier.Verify(Encoding.UTF8.GetBytes(c.Payload), Header(WebhookHeaderNames.Id), Header(WebhookHeaderNames.Timestamp),
            Header(WebhookHeaderNames.Signature), WebhookVectors.Secret(c.Secret), c.ToleranceSeconds is { } s ? TimeSpan.FromSeconds(s) : null);

        // The server checks the signature only; whether the body is JSON is the SDK helpers' concern.
        var expected = c.Error switch
        {
            null or "INVALID_PAYLOAD" => WebhookVerificationFailure.None,
            "MISSING_HEADER" => WebhookVerificationFailure.MissingHeader,
            "INVALID_TIMESTAMP" => WebhookVerificationFailure.InvalidTimestamp,
            "TIMESTAMP_TOO_OLD" => WebhookVerificationFailure.TimestampTooOld,
            "TIMESTAMP_TOO_NEW" => WebhookVerificationFailure.TimestampTooNew,
            "INVALID_SIGNATURE" => WebhookVerificationFailure.InvalidSignature,
            _ => throw new InvalidOperationException("Unknown error code " + c.Error),
        };
        Assert.Equal(expected, result.Failure);
        Assert.Equal(c.ErrorHeader, result.MissingHeader);
    }

    [Fact]
    public void A_fresh_secret_signs_what_it_verifies_and_any_changed_payload_byte_fails()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(WebhookVectors.EventTimestamp));
        var secret = WebhookSecret.Generate();
        var payload = Encoding.UTF8.GetBytes(WebhookVectors.EventPayload);
        var signed = WebhookSigner.Sign("evt_1", clock.GetUtcNow(), payload, [secret]);
        var verifier = new WebhookVerifier(clock);

        Assert.True(verifier.Verify(payload, signed.Id, signed.Timestamp, signed.Signature, secret).IsValid);
        for (var i = 0; i < payload.Length; i++)
        {
            var tampered = (byte[])payload.Clone();
            tampered[i] ^= 0x01;
            Assert.Equal(WebhookVerificationFailure.InvalidSignature, verifier.Verify(tampered, signed.Id, signed.Timestamp, signed.Signature, secret).Failure);
        }
        Assert.Equal(WebhookVerificationFailure.InvalidSignature, verifier.Verify(payload, signed.Id, signed.Timestamp, signed.Signature, WebhookSecret.Generate()).Failure);
    }

    [Fact]
    public void The_default_tolerance_is_five_minutes_either_way_as_time_passes()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(WebhookVectors.EventTimestamp));
        var secret = WebhookSecret.Generate();
        var signed = WebhookSigner.Sign("evt_1", clock.GetUtcNow(), "{}"u8, [secret]);
        var verifier = new WebhookVerifier(clock);

        clock.Advance(TimeSpan.FromMinutes(5));
        Assert.True(verifier.Verify("{}"u8, signed.Id, signed.Timestamp, signed.Signature, secret).IsValid);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(WebhookVerificationFailure.TimestampTooOld, verifier.Verify("{}"u8, signed.Id, signed.Timestamp, signed.Signature, secret).Failure);

        // A receiver whose clock is behind the sender's.
        var behind = new WebhookVerifier(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(WebhookVectors.EventTimestamp).AddMinutes(-5)));
        Assert.True(behind.Verify("{}"u8, signed.Id, signed.Timestamp, signed.Signature, secret).IsValid);
        var further = new WebhookVerifier(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(WebhookVectors.EventTimestamp).AddMinutes(-5).AddSeconds(-1)));
        Assert.Equal(WebhookVerificationFailure.TimestampTooNew, further.Verify("{}"u8, signed.Id, signed.Timestamp, signed.Signature, secret).Failure);
    }
}
