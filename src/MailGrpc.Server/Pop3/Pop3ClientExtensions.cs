using MailKit.Net.Pop3;

namespace MailGrpc.Server.Pop3;

internal static class Pop3ClientExtensions
{
    /// <summary>
    /// Disposes a client. MailKit 4.18.2 throws a NullReferenceException from <c>ClientMetrics.GetTags</c> when a client
    /// that is already disconnected is disposed while something listens to its meter (our OpenTelemetry setup does):
    /// the disconnect metric is recorded with a null server URI. The client is closed either way, so that is ignored.
    /// </summary>
    public static void DisposeQuietly(this Pop3Client client)
    {
        try
        {
            client.Dispose();
        }
        catch (NullReferenceException)
        {
        }
    }
}
