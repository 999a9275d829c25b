using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Webhooks;

/// <summary>
/// Webhook deliveries over https trust <c>MailGrpc:Tls:ExtraTrustedCaFile</c> as POP3 and OAuth connections do: real
/// Kestrel https receivers on 127.0.0.1 with certificates from throw-away CAs, the real server on the rig's Redis.
/// </summary>
public sealed class WebhookTlsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task An_https_receiver_whose_certificate_chains_to_the_extra_trusted_ca_gets_its_deliveries()
    {
        using var ca = new TestCertificateAuthority("webhook extra CA");
        var caFile = ca.WritePemFile();
        try
        {
            using var certificate = ca.Issue("localhost", loopbackIp: true);
            await using var receiver = await WebhookReceiver.StartAsync(certificate: certificate);
            Assert.Equal("https", receiver.Url.Scheme);
            await using var feed = FeedHost.Start(TestRedis.Configuration, extra: new Dictionary<string, string?> { ["MailGrpc:Tls:ExtraTrustedCaFile"] = caFile });
            var (webhook, secret) = await WebhookScenarios.CreateAsync(feed, receiver.Url);
            receiver.Secrets = [secret];

            var ids = new List<string>();
            for (var uid = 1; uid <= 3; uid++) ids.Add(await feed.ArriveAsync("m-tls", uid));

            await Eventually.WaitAsync(() => Task.FromResult(receiver.Accepted.Count >= ids.Count), Wait, "3 deliveries over https");
            Assert.Equal(ids, receiver.Accepted.Select(r => r.Id));
            Assert.All(receiver.Received, r => Assert.True(r.Verified));
            await Eventually.WaitAsync(async () => await feed.PendingAsync("webhook." + webhook.WebhookId) == 0, Wait, "nothing pending for the endpoint");
            Assert.Empty((await feed.Webhooks.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = webhook.WebhookId })).DeadLetters);
        }
        finally
        {
            File.Delete(caFile);
        }
    }

    [Fact]
    public async Task An_https_receiver_signed_by_an_unknown_ca_or_named_otherwise_is_never_sent_anything_and_dead_letters_with_tls_failed()
    {
        using var trusted = new TestCertificateAuthority("webhook extra CA");
        using var unknown = new TestCertificateAuthority("webhook unknown CA");
        var caFile = trusted.WritePemFile();
        try
        {
            using var unknownCertificate = unknown.Issue("localhost", loopbackIp: true);
            // Chains to the trusted CA but names another host: the extra CA forgives chain errors only, never a name mismatch.
            using var wrongNameCertificate = trusted.Issue("wrong.example", loopbackIp: false);
            await using var unknownReceiver = await WebhookReceiver.StartAsync(certificate: unknownCertificate);
            await using var wrongNameReceiver = await WebhookReceiver.StartAsync(certificate: wrongNameCertificate);
            await using var feed = FeedHost.Start(TestRedis.Configuration, extra: new Dictionary<string, string?>
            {
                ["MailGrpc:Tls:ExtraTrustedCaFile"] = caFile,
                ["MailGrpc:Webhooks:MaxAge"] = "00:00:01",
            });
            var (unknownHook, _) = await WebhookScenarios.CreateAsync(feed, unknownReceiver.Url);
            var (wrongNameHook, _) = await WebhookScenarios.CreateAsync(feed, wrongNameReceiver.Url);
            var id = await feed.ArriveAsync("m-untrusted", 1);

            foreach (var hook in new[] { unknownHook, wrongNameHook })
            {
                ListDeadLettersResponse? dead = null;
                await Eventually.WaitAsync(
                    async () => (dead = await feed.Webhooks.ListDeadLettersAsync(new ListDeadLettersRequest { WebhookId = hook.WebhookId })).DeadLetters.Count == 1,
                    Wait,
                    $"the event dead-lettered at {hook.Url}");
                var letter = Assert.Single(dead!.DeadLetters);
                Assert.Equal(id, letter.Event.Id);
                Assert.Equal(0, letter.LastStatusCode);
                Assert.Equal("tls_failed", letter.LastError);
            }

            // The handshake failed before any request: neither receiver saw one.
            Assert.Empty(unknownReceiver.Received);
            Assert.Empty(wrongNameReceiver.Received);
        }
        finally
        {
            File.Delete(caFile);
        }
    }
}
