namespace MailGrpc.Server.Authorization.Secrets;

/// <summary>Makes the key ring at start and says loudly when it is ephemeral.</summary>
internal sealed partial class KeyRingStartupCheck(KeyRing keys, ILogger<KeyRingStartupCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (keys.IsEphemeral)
        {
            LogEphemeral(logger);
        }
        else
        {
            LogActive(logger, keys.ActiveKeyId);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "MailGrpc:Encryption:Keys is empty: stored tokens and passwords are encrypted with an EPHEMERAL key made up at start. DEVELOPMENT ONLY — they become unreadable when this process exits.")]
    private static partial void LogEphemeral(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Secrets are encrypted with key {KeyId}")]
    private static partial void LogActive(ILogger logger, string keyId);
}
