using MailGrpc.Server.Network;
using MailGrpc.Server.Pop3;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MailGrpc.Server.Messages;

/// <summary>DI for POP3 retrieval: sessions, the lease, the byte budget and the MessageService logic.</summary>
internal static class MessagesServiceCollectionExtensions
{
    /// <summary>Registers everything MessageService needs except <see cref="Authorization.IMailboxCredentials"/>, which the token layer provides.</summary>
    public static IServiceCollection AddMailGrpcMessages(this IServiceCollection services)
    {
        services.TryAddSingleton<ExtraTrust>(); // shared with the OAuth HTTP client
        services.AddSingleton<Pop3LeaseManager>();
        services.AddSingleton<ByteBudget>();
        services.AddSingleton<Pop3SessionFactory>();
        services.AddSingleton<MessageFetcher>();
        services.AddSingleton<MessageFrameWriter>();
        services.AddSingleton<ConsumerLedger>();
        services.AddSingleton<MessageDeleter>();
        services.AddSingleton<MessageManager>();
        services.AddSingleton<MailboxPolling>();
        services.AddSingleton<WatchRegistry>();
        return services;
    }
}
