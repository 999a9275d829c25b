using System.Text.RegularExpressions;

namespace MailGrpc.Tests.Sync;

/// <summary>Reads POP3 sessions out of the rig Dovecot's log.</summary>
internal static partial class DovecotSessionLog
{
    /// <summary>
    /// No session of the user starts before the previous one ended. Dovecot writes a session's Login (pop3-login) and its
    /// Disconnected (the session's own pop3 process) from two processes, and under load the Disconnected can come first in
    /// the log; so sessions are paired by their session id, and a session ends at the later of its two lines.
    /// </summary>
    public static void AssertSessionsNeverOverlap(string[] lines, string user)
    {
        var starts = new Dictionary<string, int>(StringComparer.Ordinal);
        var ends = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].Contains(user, StringComparison.Ordinal))
            {
                continue;
            }

            if (LoginPattern().Match(lines[i]) is { Success: true } login && login.Groups["user"].Value == user)
            {
                starts[login.Groups["session"].Value] = i;
            }
            else if (DisconnectPattern().Match(lines[i]) is { Success: true } gone && gone.Groups["user"].Value == user)
            {
                ends[gone.Groups["session"].Value] = i;
            }
        }

        var sessions = starts
            .Select(s => (Id: s.Key, Start: s.Value, End: ends.TryGetValue(s.Key, out var e) ? Math.Max(e, s.Value) : int.MaxValue))
            .OrderBy(s => s.Start)
            .ToArray();
        for (var i = 1; i < sessions.Length; i++)
        {
            var previous = sessions[i - 1];
            Assert.True(sessions[i].Start > previous.End, $"two POP3 sessions of {user} at once: {previous.Id} and {sessions[i].Id}: {lines[sessions[i].Start]}");
        }
    }

    public static int Logins(string[] lines, string user) =>
        lines.Count(l => l.Contains("Login: user=<" + user + ">", StringComparison.Ordinal));

    [GeneratedRegex(@"pop3-login: .*Login: user=<(?<user>[^>]+)>.*session=<(?<session>[^>]+)>")]
    private static partial Regex LoginPattern();

    [GeneratedRegex(@"pop3\((?<user>[^)]+)\)<\d+><(?<session>[^>]+)>: .*Disconnected")]
    private static partial Regex DisconnectPattern();
}
