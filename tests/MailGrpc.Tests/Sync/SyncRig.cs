using System.Security.Cryptography;
using System.Text;
using MailGrpc.Server.Events;
using MailGrpc.Tests.Infrastructure;
using MailGrpc.Tests.Messages;
using MailGrpc.V1;
using StackExchange.Redis;

namespace MailGrpc.Tests.Sync;

/// <summary>The sync tests on the rig (Dovecot, Redis): they run one after another, apart from the other POP3 tests.</summary>
[CollectionDefinition("sync")]
public sealed class SyncCollectionDefinition : ICollectionFixture<Pop3Rig>;

/// <summary>One event as read back from a tenant's stream.</summary>
public sealed record FeedEvent(string Id, string Type, string MailboxId, System.Text.Json.JsonElement Data);

/// <summary>What the sync rig tests share: server settings with the engine on, a fresh schedule per test, the feed read back.</summary>
public static class SyncRig
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan ClaimTimeout = TimeSpan.FromSeconds(8);

    /// <summary>Server settings for the rig with the sync engine on, 1 s intervals, and its own schedule name (so runs never share one).</summary>
    public static Dictionary<string, string?> Settings(Pop3Rig rig, TestTenant tenant, string schedule, string? redis = null)
    {
        var settings = MailGrpcTestHost.Pop3Settings(rig, tenant);
        if (redis is not null)
        {
            settings["MailGrpc:Redis:Configuration"] = redis;
        }

        settings["MailGrpc:Sync:Enabled"] = "true";
        settings["MailGrpc:Sync:Schedule"] = schedule;
        settings["MailGrpc:Sync:MinInterval"] = "00:00:01";
        settings["MailGrpc:Sync:DefaultInterval"] = "00:00:01";
        settings["MailGrpc:Sync:MaxBackoff"] = "00:00:02";
        settings["MailGrpc:Sync:IdleWait"] = "00:00:00.100";
        settings["MailGrpc:Sync:ClaimTimeout"] = "00:00:08";
        settings["MailGrpc:Sync:Shards"] = "4";
        return settings;
    }

    public static string NewSchedule() => "t" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>Every event of the tenant's feed, in order (XRANGE).</summary>
    public static async Task<IReadOnlyList<FeedEvent>> ReadFeedAsync(IConnectionMultiplexer redis, string tenant)
    {
        var entries = await redis.GetDatabase().StreamRangeAsync(EventLogKeys.Stream(tenant));
        return entries.Select(e => new FeedEvent(
            e.Id.ToString(),
            e["type"].ToString(),
            e["mailbox"].ToString(),
            System.Text.Json.JsonDocument.Parse(e["data"].ToString()).RootElement.Clone())).ToArray();
    }

    /// <summary>A message with the given headers (CRLF, as the rig's Maildirs hold them).</summary>
    public static byte[] Message(string from, string to, string subject, string messageId, string date) => Encoding.ASCII.GetBytes(
        $"From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{messageId}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello from the sync test.\r\n");

    /// <summary>Creates a password mailbox for a fresh rig user and activates it with SetMailboxPassword (one verified login).</summary>
    public static async Task<(string Id, string User, string Password)> CreateActiveMailboxAsync(MailGrpcTestHost host, TestTenant tenant, Pop3Rig rig, string prefix)
    {
        var user = Pop3Rig.NewUser(prefix);
        var password = rig.AddPasswordUser(user);
        var id = "m-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        await host.Mailboxes(tenant.ApiKey).CreateMailboxAsync(new CreateMailboxRequest
        {
            MailboxId = id,
            Mailbox = new Mailbox
            {
                Username = user,
                Server = new ServerSettings { Host = "127.0.0.1", Port = rig.Pop3sPort, Security = Security.ImplicitTls },
                AuthMethod = new AuthMethod { Password = new PasswordAuth() },
            },
        });
        await host.Authorization(tenant.ApiKey).SetMailboxPasswordAsync(new SetMailboxPasswordRequest { MailboxId = id, Password = password });
        return (id, user, password);
    }
}
