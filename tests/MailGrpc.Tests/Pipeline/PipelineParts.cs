using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using MailGrpc.Server.Configuration;
using MailGrpc.Server.Messages;
using MailGrpc.Server.Pop3;
using MailGrpc.Server.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MailGrpc.Tests.Pipeline;

/// <summary>The message pipeline built from its real parts, in process, over a <see cref="FakePop3Source"/>: no rig.</summary>
internal sealed class PipelineParts : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public PipelineParts(long capacity, Action<Pop3Options>? configure = null)
    {
        var options = new MailGrpcOptions();
        configure?.Invoke(options.Pop3);
        Options = options.Pop3;
        Budget = new ByteBudget(capacity, null, Time);
        Metrics = new MailGrpcMetrics(_services.GetRequiredService<IMeterFactory>(), TimeProvider.System);
        Fetcher = new MessageFetcher(Budget, Microsoft.Extensions.Options.Options.Create(options.Pop3));
        Frames = new MessageFrameWriter(Microsoft.Extensions.Options.Options.Create(options.Pop3), Metrics);
    }

    public Microsoft.Extensions.Time.Testing.FakeTimeProvider Time { get; } = new();

    public Pop3Options Options { get; }

    public ByteBudget Budget { get; }

    public MailGrpcMetrics Metrics { get; }

    public MessageFetcher Fetcher { get; }

    public MessageFrameWriter Frames { get; }

    /// <summary>StreamMessages' path: every message of the plan fetched and written as frames to <paramref name="sink"/>.</summary>
    public Task StreamAsync(IPop3MessageSource source, IReadOnlyList<PlanItem> plan, bool headersOnly, IMessageFrameSink sink, CancellationToken cancellationToken = default) =>
        Fetcher.FetchAsync(source, plan, headersOnly, (fetched, ct) => Frames.WriteAsync("StreamMessages", fetched, headersOnly, sink, ct), cancellationToken);

    public void Dispose()
    {
        Metrics.Dispose();
        _services.Dispose();
    }

    public static byte[] Message(int number, int bodyBytes, string? subject = null)
    {
        var header = $"From: Sender <sender@example.org>\r\nTo: rcpt@example.org\r\nSubject: {subject ?? $"Message {number}"}\r\nMessage-ID: <m{number}@example.org>\r\nDate: Mon, 07 Dec 2026 00:00:00 +0000\r\n\r\n";
        var body = new StringBuilder(bodyBytes + 80);
        while (body.Length < bodyBytes)
        {
            body.Append(CultureInfoInvariant($"line {body.Length} of message {number} ......................................\r\n"));
        }

        return Encoding.ASCII.GetBytes(header + body.ToString(0, bodyBytes));
    }

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static string CultureInfoInvariant(FormattableString text) => FormattableString.Invariant(text);
}

/// <summary>
/// An in-process POP3 message source: RETR/TOP by index over messages held in memory, recording every fetch, with hooks
/// to hold a fetch or fail it. Streams are seekable MemoryStreams, as MailKit's are.
/// </summary>
internal sealed class FakePop3Source(IReadOnlyList<byte[]> messages, bool supportsTop = true) : IPop3MessageSource
{
    private readonly Lock _gate = new();
    private readonly List<(int[] Indexes, bool HeadersOnly)> _fetches = [];
    private readonly List<Stream> _returned = [];

    public bool SupportsTop => supportsTop;

    /// <summary>Runs in every fetch before it answers (hold it, fail it, or check the budget).</summary>
    public Func<int[], bool, Task>? OnFetch { get; set; }

    public IReadOnlyList<(int[] Indexes, bool HeadersOnly)> Fetches
    {
        get
        {
            lock (_gate)
            {
                return [.. _fetches];
            }
        }
    }

    /// <summary>Every stream handed out was disposed (the pipeline gave it back).</summary>
    public bool AllStreamsDisposed
    {
        get
        {
            lock (_gate)
            {
                return _returned.All(s => !s.CanRead);
            }
        }
    }

    public IReadOnlyList<Pop3Entry> Entries => messages.Select((m, i) => new Pop3Entry(i, $"uid-{i}", m.Length)).ToArray();

    public async Task<IList<Stream>> FetchAsync(IList<int> indexes, bool headersOnly, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _fetches.Add(([.. indexes], headersOnly));
        }

        if (OnFetch is { } hook)
        {
            await hook([.. indexes], headersOnly).WaitAsync(cancellationToken);
        }

        var streams = indexes.Select(i => (Stream)new MemoryStream(headersOnly ? HeaderBlock(messages[i]) : messages[i], writable: false)).ToList();
        lock (_gate)
        {
            _returned.AddRange(streams);
        }

        return streams;
    }

    private static byte[] HeaderBlock(byte[] message)
    {
        var end = message.AsSpan().IndexOf("\r\n\r\n"u8);
        return end < 0 ? message : message[..(end + 4)];
    }
}

/// <summary>Collects frames as a gRPC client would see them (chunk bytes copied: they are lent), with a hook per frame.</summary>
internal sealed class RecordingSink : IMessageFrameSink
{
    private readonly System.Buffers.ArrayBufferWriter<byte> _current = new();

    public List<MessageFrame> Frames { get; } = [];

    /// <summary>Messages as received: uid → bytes of their chunks.</summary>
    public Dictionary<string, byte[]> Bodies { get; } = new(StringComparer.Ordinal);

    public Func<MessageFrame, Task>? OnFrame { get; set; }

    public async Task WriteAsync(MessageFrame frame, CancellationToken cancellationToken)
    {
        if (OnFrame is { } hook)
        {
            await hook(frame).WaitAsync(cancellationToken);
        }

        switch (frame)
        {
            case MessageChunkFrame chunk:
                Assert.Equal(_current.WrittenCount, chunk.Offset);
                System.Buffers.BuffersExtensions.Write(_current, chunk.Data.Span);
                Frames.Add(chunk with { Data = chunk.Data.ToArray() });
                return;
            case MessageEndFrame end:
                Bodies[end.Uid] = _current.WrittenSpan.ToArray();
                _current.ResetWrittenCount();
                break;
        }

        Frames.Add(frame);
    }
}
