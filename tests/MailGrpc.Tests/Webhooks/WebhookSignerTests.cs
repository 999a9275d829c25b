using System.Text;
using MailGrpc.Server.Webhooks;

namespace MailGrpc.Tests.Webhooks;

[Trait("Layer", "Fast")]
public sealed class WebhookSignerTests
{
    [Fact]
    public void Reproduces_the_specification_libraries_published_vector()
    {
        var headers = WebhookSigner.Sign(WebhookVectors.SpecId, DateTimeOffset.FromUnixTimeSeconds(WebhookVectors.SpecTimestamp),
            Encoding.UTF8.GetBytes(WebhookVectors.SpecPayload), [WebhookVectors.Secret(WebhookVectors.SpecSecret)]);

        Assert.Equal(WebhookVectors.SpecId, headers.Id);
        Assert.Equal("1614265330", headers.Timestamp);
        Assert.Equal(WebhookVectors.SpecSignature, headers.Signature);
    }

    [Fact]
    public void Signs_whole_seconds_of_the_attempt_time()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds((WebhookVectors.SpecTimestamp * 1000) + 999);
        var headers = WebhookSigner.Sign(WebhookVectors.SpecId, at, Encoding.UTF8.GetBytes(WebhookVectors.SpecPayload), [WebhookVectors.Secret(WebhookVectors.SpecSecret)]);

        Assert.Equal("1614265330", headers.Timestamp);
        Assert.Equal(WebhookVectors.SpecSignature, headers.Signature);
    }

    [Fact]
    public void During_a_rotation_signs_once_per_secret_in_order_space_separated()
    {
        var payload = Encoding.UTF8.GetBytes(WebhookVectors.EventPayload);
        var at = DateTimeOffset.FromUnixTimeSeconds(WebhookVectors.EventTimestamp);
        var old = WebhookSigner.Sign(WebhookVectors.EventId, at, payload, [WebhookVectors.Secret(WebhookVectors.OldSecret)]).Signature;
        var @new = WebhookSigner.Sign(WebhookVectors.EventId, at, payload, [WebhookVectors.Secret(WebhookVectors.NewSecret)]).Signature;

        var both = WebhookSigner.Sign(WebhookVectors.EventId, at, payload, [WebhookVectors.Secret(WebhookVectors.OldSecret), WebhookVectors.Secret(WebhookVectors.NewSecret)]);

        Assert.Equal(old + " " + @new, both.Signature);
        Assert.NotEqual(old, @new);
        Assert.StartsWith("v1,", old, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(old[3..]).Length);
    }

    [Theory]
    [InlineData("")]
    [InlineData("msg.1")]
    [InlineData("msg 1")]
    [InlineData("msg,1")]
    public void Refuses_ids_that_would_make_the_signed_content_ambiguous(string id)
    {
        var error = Assert.Throws<ArgumentException>(() =>
            WebhookSigner.Sign(id, DateTimeOffset.UnixEpoch.AddDays(1), "{}"u8, [WebhookSecret.Generate()]));
        Assert.Equal("id", error.ParamName);
    }

    [Fact]
    public void Refuses_to_sign_without_a_secret()
    {
        var error = Assert.Throws<ArgumentException>(() => WebhookSigner.Sign("msg_1", DateTimeOffset.UnixEpoch.AddDays(1), "{}"u8, []));
        Assert.Equal("secrets", error.ParamName);
    }
}
