namespace MailGrpc.Server.Configuration;

/// <summary>POP3 session limits, memory bounds and the watch poller (section <c>MailGrpc:Pop3</c>).</summary>
internal sealed class Pop3Options
{
    public const string SectionName = "MailGrpc:Pop3";

    /// <summary>The most a chunk frame may carry: the v1 contract promises at most 64 KiB.</summary>
    public const int MaxChunkSize = 64 * 1024;

    /// <summary>TCP connect, TLS handshake and greeting together.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a STARTTLS or plaintext connection waits for the server's greeting (within ConnectTimeout).</summary>
    public TimeSpan GreetingTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest MailKit waits on one read or write of a command.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Larger messages are reported with a <c>skipped</c> frame and never downloaded (MailKit buffers whole messages).</summary>
    public long MaxMessageSize { get; set; } = 50L * 1024 * 1024;

    /// <summary>Bytes of message data all streams of this process may hold in memory at once.</summary>
    public long MemoryBudgetBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Bytes per chunk frame; at most 64 KiB.</summary>
    public int ChunkSize { get; set; } = MaxChunkSize;

    /// <summary>How often the watch poller looks for new messages.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the per-mailbox session lease lives without renewal (a crashed replica frees it after this; it is renewed
    /// every third of it). Short, so a killed replica's mailboxes are served again within seconds; keep it above the
    /// time a Redis failover takes if sessions should ride one out.
    /// </summary>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a call waits for another call's session on the same mailbox before MAILBOX_BUSY (3× the lease, so a dead holder's lease runs out well within it).</summary>
    public TimeSpan LeaseWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Messages fetched per pipelined batch (also bounded by the byte budget).</summary>
    public int BatchSize { get; set; } = 50;

    /// <summary>
    /// Bytes one pipelined fetch may span. A message is streamed only once its fetch is complete, so this bounds what a
    /// dropped connection costs: every message of an earlier fetch has been delivered.
    /// </summary>
    public long PipelineBytes { get; set; } = 256 * 1024;

    /// <summary>How long a call waits for its share of <see cref="MemoryBudgetBytes"/> before RESOURCE_EXHAUSTED.</summary>
    public TimeSpan MemoryWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The most consumers (acknowledgement ledgers) one mailbox may have; a new consumer beyond it is refused with
    /// RESOURCE_EXHAUSTED (<c>CONSUMER_LIMIT_REACHED</c>) until one is forgotten (DeleteConsumer).
    /// </summary>
    public int MaxConsumersPerMailbox { get; set; } = 100;

    /// <summary>Checks the section; each failure names its key.</summary>
    public IEnumerable<string> Validate()
    {
        const string p = "MailGrpc:Pop3:";
        if (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout > TimeSpan.FromMinutes(10))
        {
            yield return p + "ConnectTimeout must be positive and at most 10 minutes.";
        }

        if (GreetingTimeout <= TimeSpan.Zero || GreetingTimeout > TimeSpan.FromMinutes(10))
        {
            yield return p + "GreetingTimeout must be positive and at most 10 minutes.";
        }

        if (CommandTimeout <= TimeSpan.Zero || CommandTimeout > TimeSpan.FromMinutes(30))
        {
            yield return p + "CommandTimeout must be positive and at most 30 minutes.";
        }

        if (MaxMessageSize < 1024)
        {
            yield return p + "MaxMessageSize must be at least 1024 bytes.";
        }

        if (MemoryBudgetBytes < MaxMessageSize)
        {
            yield return p + "MemoryBudgetBytes must be at least MaxMessageSize (one message must always fit).";
        }

        if (ChunkSize < 1024 || ChunkSize > MaxChunkSize)
        {
            yield return p + "ChunkSize must be between 1024 and 65536 bytes.";
        }

        if (PollInterval < TimeSpan.FromMilliseconds(100))
        {
            yield return p + "PollInterval must be at least 100 ms.";
        }

        if (LeaseTime < TimeSpan.FromSeconds(1))
        {
            yield return p + "LeaseTime must be at least 1 second.";
        }

        if (LeaseWait < TimeSpan.Zero)
        {
            yield return p + "LeaseWait must be zero or more.";
        }

        if (PipelineBytes is < 1024 or > 64L * 1024 * 1024)
        {
            yield return p + "PipelineBytes must be between 1024 bytes and 64 MiB.";
        }

        if (MemoryWait <= TimeSpan.Zero || MemoryWait > TimeSpan.FromMinutes(10))
        {
            yield return p + "MemoryWait must be positive and at most 10 minutes.";
        }

        if (MaxConsumersPerMailbox is < 1 or > 10_000)
        {
            yield return p + "MaxConsumersPerMailbox must be between 1 and 10000.";
        }

        if (BatchSize is < 1 or > 1000)
        {
            yield return p + "BatchSize must be between 1 and 1000.";
        }
    }
}
