using MailGrpc.Tests.Infrastructure;

namespace MailGrpc.Tests.Messages;

/// <summary>Reads the rig's Dovecot log, which Dovecot writes asynchronously: wait for the lines a test expects, not a fixed time.</summary>
internal static class DovecotLog
{
    /// <summary>The lines about <paramref name="user"/> written since <paramref name="offset"/>, once <paramref name="done"/> holds for them (at most 60 s: Dovecot writes a line when its process gets to it, which on a loaded machine is seconds after the session).</summary>
    public static async Task<string[]> WaitForLinesAsync(string path, long offset, string user, Func<string[], bool> done)
    {
        string[] Lines() => Read(path, offset).Split('\n').Where(l => l.Contains(user, StringComparison.Ordinal)).ToArray();
        try
        {
            await Eventually.WaitAsync(() => done(Lines()), TimeSpan.FromSeconds(60), $"Dovecot's log lines about {user}");
        }
        catch (TimeoutException)
        {
            // The caller asserts on what was written, which names what is missing.
        }

        return Lines();
    }

    private static string Read(string path, long offset)
    {
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        reader.BaseStream.Seek(offset, SeekOrigin.Begin);
        return reader.ReadToEnd();
    }
}
