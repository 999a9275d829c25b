using MailGrpc.Server.Webhooks;

namespace MailGrpc.Tests.Webhooks;

[Trait("Layer", "Fast")]
public sealed class WebhookSecretTests
{
    [Fact]
    public void Generated_secrets_are_32_random_bytes_serialized_as_whsec_base64()
    {
        var first = WebhookSecret.Generate();
        var second = WebhookSecret.Generate();

        Assert.StartsWith("whsec_", first.Serialized, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(first.Serialized["whsec_".Length..]).Length);
        Assert.NotEqual(first.Serialized, second.Serialized);
        Assert.True(WebhookSecret.TryParse(first.Serialized, out var parsed));
        Assert.True(parsed.Key.SequenceEqual(first.Key));
    }

    [Fact]
    public void Reads_the_specification_libraries_secret()
    {
        Assert.True(WebhookSecret.TryParse(WebhookVectors.SpecSecret, out var secret));
        Assert.Equal(24, secret.Key.Length);
        Assert.Equal(WebhookVectors.SpecSecret, secret.Serialized);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("whsec_")]
    [InlineData("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")] // no prefix
    [InlineData("whsec_not base64!")]
    [InlineData("whsec_MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM=")] // 23 bytes: under the specification's 24
    public void Refuses_what_is_not_a_whsec_secret_of_24_to_64_bytes(string? serialized)
    {
        Assert.False(WebhookSecret.TryParse(serialized, out var secret));
        Assert.Null(secret);
    }

    [Fact]
    public void Refuses_keys_longer_than_64_bytes()
    {
        Assert.True(WebhookSecret.TryParse("whsec_" + Convert.ToBase64String(new byte[64]), out _));
        Assert.False(WebhookSecret.TryParse("whsec_" + Convert.ToBase64String(new byte[65]), out _));
    }

    [Fact]
    public void Never_shows_its_key_as_text()
    {
        var secret = WebhookSecret.Generate();
        var base64 = secret.Serialized["whsec_".Length..];

        Assert.DoesNotContain(base64, secret.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(base64, $"{secret}", StringComparison.Ordinal);
    }
}
