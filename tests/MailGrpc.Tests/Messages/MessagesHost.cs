using MailGrpc.Tests.Infrastructure;
using MailGrpc.V1;

namespace MailGrpc.Tests.Messages;

/// <summary>
/// The POP3 tests' view of the one test host (<see cref="MailGrpcTestHost.ForPop3"/>): its clients bound to the host's
/// tenant. Everything else (settings, hosting, mailbox helpers) is <see cref="MailGrpcTestHost"/>'s.
/// </summary>
public sealed class MessagesHost : IAsyncDisposable
{
    public MessagesHost(Pop3Rig rig, IReadOnlyDictionary<string, string?>? extra = null, TestTenant? tenant = null)
    {
        Host = MailGrpcTestHost.ForPop3(rig, extra, tenant);
        Messages = Host.Messages(Host.Tenant.ApiKey);
        Mailboxes = Host.Mailboxes(Host.Tenant.ApiKey);
    }

    public MailGrpcTestHost Host { get; }

    internal DictionaryCredentials Credentials => Host.Credentials;

    public TestTenant Tenant => Host.Tenant;

    public Grpc.Net.Client.GrpcChannel Channel => Host.Channel;

    public MessageService.MessageServiceClient Messages { get; }

    public MailboxService.MailboxServiceClient Mailboxes { get; }

    public IServiceProvider Services => Host.Services;

    /// <summary>Server settings for the rig (<see cref="MailGrpcTestHost.Pop3Settings"/>).</summary>
    public static Dictionary<string, string?> Settings(Pop3Rig rig, params TestTenant[] tenants) => MailGrpcTestHost.Pop3Settings(rig, tenants);

    public Task<string> CreateActiveMailboxAsync(string user, Security security, int port, bool oauth = false, SaslMechanism mechanism = SaslMechanism.Xoauth2) =>
        Host.CreateActiveMailboxAsync(user, security, port, oauth, mechanism);

    internal Task SetStateAsync(string mailboxId, MailGrpc.Server.Mailboxes.MailboxState state) => Host.SetStateAsync(mailboxId, state);

    public ValueTask DisposeAsync() => Host.DisposeAsync();
}
