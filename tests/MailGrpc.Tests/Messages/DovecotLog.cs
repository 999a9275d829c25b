namespace MailGrpc.Tests.Messages;

/// <summary>Reads the rig's Dovecot log, which Dovecot writes asynchronously: wait for the lines a test expects, not a fixed time.</summary>
internal static class DovecotLog
{
    /// <summary>The lines about <paramref name="user"/> written since <paramref name="offset"/>, once <paramref name="done"/> holds for them (at most 10 s).</summary>
    public static async Task<string[]> WaitForLinesAsync(string path, long offset, string user, Func<string[], bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var lines = Read(path, offset).Split('\n').Where(l => l.Contains(user, StringComparison.Ordinal)).ToArray();
            if (done(lines) || DateTime.UtcNow > deadline)
            {
                return lines;
            }

            await Task.Delay(20); // polling interval of the condition, not a wait for time to pass
        }
    }

    private static string Read(string path, long offset)
    {
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        reader.BaseStream.Seek(offset, SeekOrigin.Begin);
        return reader.ReadToEnd();
    }
}
