namespace MailGrpc.Client;

/// <summary>Where and how a <see cref="MailGrpcClient"/> reaches a MailGrpc server.</summary>
public sealed class MailGrpcClientOptions
{
    /// <summary>
    /// The server's gRPC address, e.g. <c>https://mailgrpc.internal:5080</c>; an <c>http://</c> address speaks
    /// HTTP/2 without TLS (for loopback and trusted networks).
    /// </summary>
    public Uri? Address { get; set; }

    /// <summary>The API key sent as <c>x-api-key</c> metadata on every call; its tenant owns the mailboxes.</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// A PEM file with a root CA to trust for the server's certificate in addition to the system's roots
    /// (private PKI, test rigs). Only used with an <c>https://</c> address.
    /// </summary>
    public string? TrustedCaCertificateFile { get; set; }

    /// <summary>The deadline of a unary call that sets none itself. Defaults to 30 seconds.</summary>
    public TimeSpan UnaryDeadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The deadline of a streaming call that sets none itself; <see langword="null"/> (the default) means none, since a
    /// stream of a large mailbox legitimately takes long.
    /// </summary>
    public TimeSpan? StreamDeadline { get; set; }

    /// <summary>
    /// How many times an idempotent read (GetMailbox, ListMailboxes, GetAuthorizationStatus, ListMessages, and the
    /// message streams before their first frame) is tried in all when the server answers UNAVAILABLE. 1 turns retries
    /// off; at most 5. Defaults to 4.
    /// </summary>
    public int MaxAttempts { get; set; } = 4;
}
