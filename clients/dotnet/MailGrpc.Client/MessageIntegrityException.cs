namespace MailGrpc.Client;

/// <summary>
/// A message stream broke its framing or a message's bytes do not match the SHA-256 the server sent. The message was
/// not handed out; do not acknowledge it. Ask again (for example with <c>only_unacknowledged</c>) to resume.
/// </summary>
public sealed class MessageIntegrityException : IOException
{
    /// <summary>Creates the exception.</summary>
    public MessageIntegrityException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public MessageIntegrityException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public MessageIntegrityException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a message.</summary>
    /// <param name="uid">The POP3 UIDL of the message, when known.</param>
    /// <param name="message">What went wrong.</param>
    public MessageIntegrityException(string? uid, string message)
        : base(message)
    {
        Uid = uid;
    }

    /// <summary>The POP3 UIDL of the message concerned, when known.</summary>
    public string? Uid { get; }
}
