using System.Text;
using MailKit;

namespace MailGrpc.Server.Diagnostics;

/// <summary>
/// A MailKit protocol logger that keeps only the server's <c>-ERR</c> lines (never what the client sent: that holds the
/// password or token), so DiagnoseMailbox can name the server's reason, e.g. Dovecot's <c>[IN-USE]</c>, which MailKit's
/// AuthenticationException does not carry.
/// </summary>
internal sealed class ServerReplyLog : IProtocolLogger
{
    private const int MaxLine = 300;
    private readonly Lock _gate = new();
    private readonly StringBuilder _pending = new();
    private string? _lastError;

    public IAuthenticationSecretDetector? AuthenticationSecretDetector { get; set; }

    /// <summary>The last <c>-ERR</c> line the server sent since <see cref="Clear"/>, or null.</summary>
    public string? LastErrorLine
    {
        get
        {
            lock (_gate)
            {
                return _lastError;
            }
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _pending.Clear();
            _lastError = null;
        }
    }

    public void LogConnect(Uri uri)
    {
    }

    public void LogClient(byte[] buffer, int offset, int count)
    {
    }

    public void LogServer(byte[] buffer, int offset, int count)
    {
        lock (_gate)
        {
            foreach (var c in Encoding.ASCII.GetString(buffer, offset, count))
            {
                if (c == '\n')
                {
                    var line = _pending.ToString().TrimEnd('\r');
                    _pending.Clear();
                    if (line.StartsWith("-ERR", StringComparison.Ordinal))
                    {
                        _lastError = line.Length <= MaxLine ? line : line[..MaxLine];
                    }
                }
                else if (_pending.Length < MaxLine)
                {
                    _pending.Append(c);
                }
            }
        }
    }

    public void Dispose()
    {
    }
}
