using MailGrpc.V1;

namespace MailGrpc.Server.Mailboxes;

/// <summary>The POP3 servers of the providers MailGrpc knows.</summary>
internal static class ProviderPresets
{
    public static (string Host, int Port, Security Security)? ServerFor(Provider provider) => provider switch
    {
        Provider.Microsoft => ("outlook.office365.com", 995, Security.ImplicitTls),
        Provider.Google => ("pop.gmail.com", 995, Security.ImplicitTls),
        _ => null,
    };

    public static int DefaultPort(Security security) => security == Security.ImplicitTls ? 995 : 110;
}
