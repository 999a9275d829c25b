namespace MailGrpc.Server.Configuration;

/// <summary>POP3 session limits.</summary>
internal sealed class Pop3Options
{
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);

    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
