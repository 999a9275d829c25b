using System.Text;
using MailKit;

namespace MailGrpc.Server.Pop3;

/// <summary>
/// A MailKit protocol logger that keeps the server's last <c>-ERR</c> line (MailKit's AuthenticationException carries
/// no reply text), for the login classifier and DiagnoseMailbox's steps. Never looks at what the client sent (that holds
/// the secret), and after <see cref="Stop"/> ignores every byte, so message downloads pay nothing for it.
/// </summary>
internal sealed class LoginReplyRecorder : IProtocolLogger
{
    private const int MaxLine = 300;
    private readonly StringBuilder _pending = new();
    private volatile bool _stopped;

    public IAuthenticationSecretDetector? AuthenticationSecretDetector { get; set; }

    /// <summary>The last <c>-ERR</c> line the server sent before <see cref="Stop"/>, or null.</summary>
    public string? LastErrorLine { get; private set; }

    public void Stop()
    {
        _stopped = true;
        _pending.Clear();
    }

    /// <summary>Forgets the last line, so the next step reads only its own replies.</summary>
    public void Clear()
    {
        _pending.Clear();
        LastErrorLine = null;
    }

    public void LogConnect(Uri uri)
    {
    }

    public void LogClient(byte[] buffer, int offset, int count)
    {
    }

    public void LogServer(byte[] buffer, int offset, int count)
    {
        if (_stopped)
        {
            return;
        }

        for (var i = offset; i < offset + count; i++)
        {
            var c = (char)buffer[i];
            if (c == '\n')
            {
                var line = _pending.ToString().TrimEnd('\r');
                _pending.Clear();
                if (line.StartsWith("-ERR", StringComparison.Ordinal))
                {
                    LastErrorLine = Printable(line);
                }
            }
            else if (_pending.Length < MaxLine)
            {
                _pending.Append(c);
            }
        }
    }

    public void Dispose()
    {
    }

    private static string Printable(string line)
    {
        var chars = line.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (chars[i] is < ' ' or > '~')
            {
                chars[i] = '?';
            }
        }

        return new string(chars);
    }
}
