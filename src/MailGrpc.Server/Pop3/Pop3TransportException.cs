namespace MailGrpc.Server.Pop3;

/// <summary>What went wrong on the wire, so Errors/ExceptionMapper can pick the status without guessing from messages.</summary>
internal enum Pop3TransportFailure
{
    Connect = 1,
    ConnectionLost,
    Timeout,
}

/// <summary>
/// A network failure of a POP3 session (socket error, dropped connection, timeout). The session layer wraps
/// <see cref="IOException"/>, <see cref="System.Net.Sockets.SocketException"/> and its own timeouts in this type, because
/// those base types are too general to map everywhere else.
/// </summary>
internal sealed class Pop3TransportException(Pop3TransportFailure failure, string message, Exception? inner = null) : IOException(message, inner)
{
    public Pop3TransportFailure Failure { get; } = failure;
}
