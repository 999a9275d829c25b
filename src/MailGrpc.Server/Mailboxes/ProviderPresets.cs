namespace MailGrpc.Server.Mailboxes;

/// <summary>The POP3 servers of the providers MailGrpc knows.</summary>
internal static class ProviderPresets
{
    public static (string Host, int Port, Pop3Security Security)? ServerFor(MailboxProvider provider) => provider switch
    {
        MailboxProvider.Microsoft => ("outlook.office365.com", 995, Pop3Security.ImplicitTls),
        MailboxProvider.Google => ("pop.gmail.com", 995, Pop3Security.ImplicitTls),
        _ => null,
    };

    public static int DefaultPort(Pop3Security security) => security == Pop3Security.ImplicitTls ? 995 : 110;
}
